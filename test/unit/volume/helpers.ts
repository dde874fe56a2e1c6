/** Temp-dir storages for the volume tests. */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeStorage, type StorageInitOptions, type StorageOpenOptions } from '../../../src/volume/index.js';

export const MiB = 1024 * 1024;
export const BS = 65536;

export interface TempStorage {
  dir: string;
  storage: NodeStorage;
  reopen(options?: StorageOpenOptions): Promise<NodeStorage>;
  /** Open the pool as a crash leaves it (no clean close, so no checkpoint): replayed from the log. */
  reopenFromLog(): Promise<NodeStorage>;
  cleanup(): Promise<void>;
}

export async function tempStorage(
  options: StorageInitOptions = { drives: [{ sizeBytes: 64 * MiB }] },
  open?: StorageOpenOptions,
): Promise<TempStorage> {
  const dir = await mkdtemp(join(tmpdir(), 'rebound-vol-'));
  const t: TempStorage = {
    dir,
    storage: await NodeStorage.init(dir, options, open),
    async reopen(o?: StorageOpenOptions) {
      await t.storage.close();
      t.storage = await NodeStorage.open(dir, o ?? open);
      return t.storage;
    },
    async reopenFromLog() {
      // Copy the pool directory as it is now, close (which writes a checkpoint), put the copy back.
      const copy = `${dir}-crash`;
      await cp(dir, copy, { recursive: true });
      await t.storage.close();
      await rm(dir, { recursive: true, force: true });
      await cp(copy, dir, { recursive: true });
      await rm(copy, { recursive: true, force: true });
      t.storage = await NodeStorage.open(dir, open);
      return t.storage;
    },
    async cleanup() {
      await t.storage.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return t;
}

export function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed * 17 + 1) & 0xff;
  return b;
}
