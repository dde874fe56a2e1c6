/**
 * The node's NBD exports: every volume (as hosts see it: fenced volumes refuse I/O, writes
 * mark update bitmaps) and every snapshot, read-only, as VOLUME@SNAPSHOT. A volume's
 * update bitmaps are offered as `qemu:dirty-bitmap:NAME`, as qemu-nbd does, so
 * qemu-based backup tools can read its changed blocks. Backup generations mounted with
 * `rebound backup serve` are exported read-only as backup-NAME. A volume with a pair key
 * (a failback's target, pair-keys.ts) opens only for that pair's TLS connection.
 */
import type { BlockDevice } from '../block/index.js';
import type { ExportProvider, NbdExport, NbdPeer } from '../nbd/index.js';
import type { ObjectStore } from '../objectstore/index.js';
import type { Storage } from '../volume/types.js';
import type { PairKeys } from './pair-keys.js';
import { snapshotExportName } from './routes/snapshots.js';

/** A backup generation mounted read-only over NBD (`rebound backup serve`). */
export interface MountedGeneration {
  device: BlockDevice;
  store: ObjectStore;
  storeName: string;
  generation: string;
}

export function storageExports(
  storage: Storage,
  mounts: ReadonlyMap<string, MountedGeneration>,
  pairKeys: Pick<PairKeys, 'checkOpen'>,
): ExportProvider {
  return {
    list() {
      const out: { name: string; description?: string }[] = [];
      for (const [name, m] of mounts)
        out.push({ name, description: `backup ${m.generation} in ${m.storeName}` });
      for (const v of storage.listVolumes()) {
        out.push({ name: v.name, description: `volume ${v.uniqueId}` });
        for (const s of v.snapshots)
          out.push({ name: snapshotExportName(v.name, s), description: `snapshot of ${v.name}` });
      }
      return out;
    },

    open(name: string, peer?: NbdPeer): NbdExport | undefined {
      const mount = mounts.get(name);
      if (mount) {
        return {
          name,
          description: `backup ${mount.generation} (read-only)`,
          device: mount.device,
          bitmapNames: () => [],
          bitmap: () => undefined,
        };
      }
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
      pairKeys.checkOpen(volume, peer);
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
