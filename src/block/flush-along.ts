/**
 * Flushes of a copy's destination along the way: one is started, in the background,
 * each time `everyBytes` more have been written since the last, and never two at once.
 * The destination then writes back while the copy goes on, and the copy's final flush
 * finds little left (a failback's 20,000 scattered 4 KiB writes took 170-330 ms to
 * fdatasync when the only flush was the last one). The copy engine's `flushEveryBytes`
 * and a delta's apply of partial grains (backup/restore.ts) use it.
 */
import type { BlockDevice } from './device.js';

/**
 * How often scattered writes (a failback's 4 KiB grains: a remote copy, a local copy into
 * a virtual volume, a delta's apply) flush along the way: write-back costs per page, not
 * per byte, so 16 MiB of them is already some 4,000 pages to write back.
 */
export const SCATTERED_FLUSH_BYTES = 16 * 1024 * 1024;

export interface FlushAlong {
  /** Count bytes written (their writes have ended); may start a flush. */
  wrote(bytes: number): void;
  /** Flushes started so far (one at a time, so each after the one before ended). */
  readonly started: number;
  /** Of those, the ones that succeeded: flush k (from 0) succeeded once this is above k. */
  readonly succeeded: number;
  /** Resolves when no flush is under way (a failed one went to `onError`). */
  idle(): Promise<void>;
}

/** `everyBytes` <= 0: never. A failed flush is given to `onError`, not thrown. */
export function flushAlong(
  dest: BlockDevice,
  everyBytes: number,
  onError: (err: unknown) => void,
): FlushAlong {
  let since = 0;
  let flushing: Promise<void> | undefined;
  let started = 0;
  let succeeded = 0;
  return {
    get started() {
      return started;
    },
    get succeeded() {
      return succeeded;
    },
    wrote(bytes) {
      since += bytes;
      if (everyBytes <= 0 || since < everyBytes || flushing) return;
      since = 0;
      started++;
      flushing = dest.flush().then(
        () => {
          succeeded++;
          flushing = undefined;
        },
        (err) => {
          onError(err);
          flushing = undefined;
        },
      );
    },
    async idle() {
      await flushing;
    },
  };
}
