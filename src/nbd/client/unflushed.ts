/**
 * Writes since the last successful flush, kept to re-send after a reconnect.
 *
 * Why: a write the server acknowledged is only "written", not durable, until a flush
 * (device.ts). If the connection drops because the server crashed, it may have lost
 * acknowledged writes from its cache, and nothing tells the client which. So every
 * write (and zero) that is not FUA stays here, with its data, until a FLUSH sent after
 * it completed succeeds. After a reconnect all of them are sent again, in the order they
 * completed, before anything else: a flush after a reconnect then covers every write
 * since the last successful flush, as the BlockDevice contract promises.
 *
 * Trims are not kept: trim is advisory, and a lost trim leaves old data, which the
 * contract allows. Memory is bounded by the caller (the session flushes by itself once
 * `bytes` passes its limit).
 *
 *   add -> pending --reply ok--> completed --FLUSH ok--> (gone)
 *                                     |
 *                        connection dropped -> stale --re-sent--> replaying --ok--> completed
 */

export type EntryState = 'pending' | 'completed' | 'stale' | 'replaying';

export interface UnflushedEntry {
  readonly offset: number;
  readonly length: number;
  /** The WRITE payload (a buffer nobody else changes); undefined for WRITE_ZEROES. */
  readonly data: Buffer | undefined;
  /** Command flags to re-send with (WRITE_ZEROES: NO_HOLE; never FUA or FAST_ZERO). */
  readonly flags: number;
  state: EntryState;
  /** Completion order: stale entries are re-sent in this order. */
  order: number;
  /** What this entry counts against the memory bound. */
  readonly costBytes: number;
}

/** Bookkeeping per entry (a zero entry still costs memory). */
const ENTRY_OVERHEAD_BYTES = 64;

export class UnflushedWrites {
  private readonly entries = new Set<UnflushedEntry>();
  private completions = 0;
  private total = 0;
  private completedTotal = 0;

  /** Bytes held (data plus overhead), pending entries included. */
  get bytes(): number {
    return this.total;
  }

  /** Bytes of entries a FLUSH sent now would let go. */
  get completedBytes(): number {
    return this.completedTotal;
  }

  get size(): number {
    return this.entries.size;
  }

  /** A write about to be sent. `retainsData`: the data is a copy we hold (it counts in full). */
  add(
    offset: number,
    length: number,
    data: Buffer | undefined,
    flags: number,
    retainsData: boolean,
  ): UnflushedEntry {
    const entry: UnflushedEntry = {
      offset,
      length,
      data,
      flags,
      state: 'pending',
      order: 0,
      costBytes: ENTRY_OVERHEAD_BYTES + (retainsData && data ? data.length : 0),
    };
    this.entries.add(entry);
    this.total += entry.costBytes;
    return entry;
  }

  /** The server acknowledged it (first send or replay). */
  completed(entry: UnflushedEntry): void {
    if (!this.entries.has(entry)) return;
    if (entry.state !== 'completed') this.completedTotal += entry.costBytes;
    entry.state = 'completed';
    entry.order = ++this.completions;
  }

  /** The server refused it: nothing to guarantee any more (the caller got the error). */
  remove(entry: UnflushedEntry): void {
    if (!this.entries.delete(entry)) return;
    this.total -= entry.costBytes;
    if (entry.state === 'completed') this.completedTotal -= entry.costBytes;
  }

  /** The entries a FLUSH sent now covers: those the server has acknowledged. */
  coveredByFlush(): UnflushedEntry[] {
    return [...this.entries].filter((e) => e.state === 'completed');
  }

  /** A FLUSH succeeded: what it covered is durable. */
  flushed(covered: readonly UnflushedEntry[]): void {
    for (const e of covered) this.remove(e);
  }

  /** The connection dropped: every acknowledged (or half re-sent) entry may be lost. */
  connectionLost(): void {
    for (const e of this.entries) {
      if (e.state === 'completed') this.completedTotal -= e.costBytes;
      if (e.state === 'completed' || e.state === 'replaying') e.state = 'stale';
    }
  }

  /** Entries to re-send after a reconnect, in the order they completed. */
  stale(): UnflushedEntry[] {
    return [...this.entries].filter((e) => e.state === 'stale').sort((a, b) => a.order - b.order);
  }
}
