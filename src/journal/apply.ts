/**
 * Replaying journal entries onto block devices: what the primary side of a pair (or the
 * shipping loop, writing through an NBD client) does with what read() returned.
 *
 * Entries are applied one at a time in seq order: two writes to overlapping ranges must
 * land in journal order, and the BlockDevice contract lets concurrent overlapping
 * writes land in any order.
 *
 * Idempotent: every entry sets a range to given bytes (a write, zeros) or gives up a
 * range (a trim), so applying a run of entries again, in order, from any seq at or
 * before the first one not yet applied leaves the device as applying it once does. That
 * is why an acknowledgement lost in a crash is harmless: the entries after the
 * persisted ack are simply sent and applied again.
 *
 * Markers: with `uptoMarker` only the entries up to and including that marker are
 * applied, so the target holds a point that was consistent across all the volumes of
 * the job, never a mix of before and after it.
 */
import type { BlockDevice } from '../block/index.js';
import { ReboundError } from '../errors.js';
import type { JournalRecord } from './record.js';

export interface ApplyOptions {
  /**
   * Apply only up to and including the first marker with this label, or with `true`
   * the last marker among the entries. When there is no such marker, nothing is
   * applied (the marker is in entries not read yet).
   */
  uptoMarker?: string | true;
  /**
   * Flush every device written before returning (default true): the seq returned is
   * then durable on the target, which is what makes it safe to acknowledge.
   */
  flush?: boolean;
}

/** The devices of a job: one device for a journal of one volume, or a lookup by volume ID. */
export type ApplyTarget = BlockDevice | ((volumeId: string) => BlockDevice | undefined);

/** How many entries of `entries` to apply for `uptoMarker`. */
function applyCount(entries: readonly JournalRecord[], uptoMarker: string | true | undefined): number {
  if (uptoMarker === undefined) return entries.length;
  let end = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.type !== 'marker') continue;
    if (uptoMarker === true) end = i + 1;
    else if (e.label === uptoMarker) return i + 1;
  }
  return end;
}

/**
 * Apply `entries` (in seq order, as read() returns them) to `target`. Returns the seq
 * of the last entry applied (a marker included), or 0 when none was. Every volume
 * named is looked up before anything is written (NOT_FOUND when one is missing);
 * device errors (OUT_OF_RANGE, READ_ONLY, I/O) reject with the entries before the
 * failing one applied.
 */
export async function applyEntries(
  entries: readonly JournalRecord[],
  target: ApplyTarget,
  options: ApplyOptions = {},
): Promise<number> {
  const count = applyCount(entries, options.uptoMarker);
  const devices = new Map<string, BlockDevice>();
  for (let i = 0; i < count; i++) {
    const e = entries[i];
    if (i > 0 && e.seq <= entries[i - 1].seq) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `journal entries out of order: seq ${e.seq} after ${entries[i - 1].seq}`,
        {
          detail: { field: 'entries' },
        },
      );
    }
    if (e.type === 'marker' || devices.has(e.volumeId)) continue;
    const dev = typeof target === 'function' ? target(e.volumeId) : target;
    if (!dev) {
      throw new ReboundError('NOT_FOUND', `no device for volume ${e.volumeId} (journal seq ${e.seq})`, {
        detail: { volumeId: e.volumeId, seq: e.seq },
      });
    }
    devices.set(e.volumeId, dev);
  }
  let last = 0;
  for (let i = 0; i < count; i++) {
    const e = entries[i];
    switch (e.type) {
      case 'write':
        await devices.get(e.volumeId)!.write(e.offset, e.data);
        break;
      case 'zero':
        await devices.get(e.volumeId)!.writeZeroes(e.offset, e.length);
        break;
      case 'trim':
        await devices.get(e.volumeId)!.trim(e.offset, e.length);
        break;
      case 'marker':
        break;
    }
    last = e.seq;
  }
  if (options.flush ?? true) {
    for (const dev of new Set(devices.values())) await dev.flush();
  }
  return last;
}
