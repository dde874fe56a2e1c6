/** The whole of a pool volume, read back (what backup and restore tests compare). */
import type { NodeStorage } from '../../src/volume/index.js';

export function volumeBytes(storage: NodeStorage, volume: string): Promise<Buffer> {
  return storage.device(volume).read(0, storage.getVolume(volume).sizeBytes);
}
