/**
 * The node's NBD exports: every volume (as hosts see it: fenced volumes refuse I/O, writes
 * mark update bitmaps) and every snapshot, read-only, as VOLUME@SNAPSHOT. A volume's
 * update bitmaps are offered as `qemu:dirty-bitmap:NAME`, as qemu-nbd does, so
 * qemu-based backup tools can read its changed blocks.
 */
import type { ExportProvider, NbdExport } from '../nbd/index.js';
import type { Storage } from '../volume/types.js';
import { snapshotExportName } from './routes/snapshots.js';

export function storageExports(storage: Storage): ExportProvider {
  return {
    list() {
      const out: { name: string; description?: string }[] = [];
      for (const v of storage.listVolumes()) {
        out.push({ name: v.name, description: `volume ${v.uniqueId}` });
        for (const s of v.snapshots)
          out.push({ name: snapshotExportName(v.name, s), description: `snapshot of ${v.name}` });
      }
      return out;
    },

    open(name: string): NbdExport | undefined {
      const at = name.indexOf('@');
      const volume = at < 0 ? name : name.slice(0, at);
      const v = storage.listVolumes().find((x) => x.name === volume);
      if (!v) return undefined;
      if (at >= 0) {
        const snap = name.slice(at + 1);
        if (!v.snapshots.includes(snap)) return undefined;
        return {
          name,
          description: `snapshot ${snap} of ${volume} (read-only)`,
          device: storage.snapshotDevice(volume, snap),
          bitmapNames: () => [],
          bitmap: () => undefined,
        };
      }
      return {
        name,
        description: `volume ${v.uniqueId}`,
        device: storage.hostDevice(volume),
        bitmapNames: () => storage.listBitmaps(volume).map((b) => b.name),
        bitmap: (bitmap) =>
          storage.listBitmaps(volume).some((b) => b.name === bitmap)
            ? storage.getBitmap(volume, bitmap)
            : undefined,
      };
    },
  };
}
