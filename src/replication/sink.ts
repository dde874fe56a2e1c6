/**
 * The pair's end of the volume's journal hook (volume/types.ts JournalSink): each write,
 * zero or trim of the source volume becomes a journal entry (SPEC S502), in the order of
 * the calls, which is the order the volume applied them.
 *
 * Host writes never fail because of the journal. When an append is refused (JOURNAL_FULL:
 * the peer is slower than the hosts) or the journal has failed, the sink falls back to
 * marking: the blocks of that write, and of every later one until the pair takes the
 * marks, go into an overflow block set instead of the journal. The pair copies those
 * blocks again once the journal holds nothing older (pair.ts, "Ordering"), then the sink
 * journals again. The marks live in memory; a crash loses them, which the pair bitmap
 * covers (pair.ts, "Crashes").
 */
import { BlockSet } from '../block/index.js';
import { isReboundError, type ReboundError, toReboundError } from '../errors.js';
import type { Journal, JournalEntry } from '../journal/index.js';
import type { JournalSink } from '../volume/index.js';

export interface PairSinkEvents {
  /** An entry is in the journal (something to ship), or blocks were marked. */
  wake(): void;
  /** The journal failed for good (not JOURNAL_FULL): the pair cannot ship it any more. */
  failed(err: ReboundError): void;
}

export class PairSink implements JournalSink {
  private overflow: BlockSet | null = null;
  /** Appends refused with JOURNAL_FULL so far (for logs and tests). */
  fullCount = 0;
  private broken = false;

  constructor(
    private readonly journal: Journal,
    /** The volume ID written in the entries (the volume's unique ID). */
    private readonly volumeId: string,
    private readonly blockSizeBytes: number,
    /** The volume's size now (it may grow while the pair runs). */
    private readonly volumeBytes: () => number,
    private readonly events: PairSinkEvents,
  ) {}

  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    return this.append({ type: 'write', volumeId: this.volumeId, offset, data }, fua, offset, data.length);
  }

  zero(offset: number, length: number, fua: boolean): Promise<void> {
    return this.append({ type: 'zero', volumeId: this.volumeId, offset, length }, fua, offset, length);
  }

  flush(): Promise<void> {
    if (this.broken) return Promise.resolve();
    return this.journal.sync().catch((err) => this.fail(err));
  }

  /** Blocks marked instead of journaled and not yet taken. */
  get overflowBlocks(): number {
    return this.overflow?.count() ?? 0;
  }

  hasOverflow(): boolean {
    return this.overflow !== null;
  }

  /**
   * Take the marked blocks and journal again from here on. The caller must have shipped
   * every entry appended so far (lag 0), and copies the blocks next.
   */
  takeOverflow(): BlockSet | null {
    const set = this.overflow;
    if (!this.broken) this.overflow = null;
    return set;
  }

  private append(entry: JournalEntry, fua: boolean, offset: number, length: number): Promise<void> {
    // Once marking, keep marking until the pair takes the marks (pair.ts "Ordering"): the
    // marked blocks are copied only after everything journaled before the marks were
    // taken has been shipped, and everything after that point must be journaled.
    if (this.overflow !== null || this.broken) {
      this.mark(offset, length);
      return Promise.resolve();
    }
    // The seq is assigned here, synchronously, while the volume holds the block locks.
    return this.journal.append(entry, { durable: fua }).then(
      () => this.events.wake(),
      (err) => {
        // The entry is not in the journal: mark its blocks instead. (Later calls may have
        // been journaled meanwhile; that is harmless, since the marked blocks are copied
        // only once everything journaled before the marks were taken has been shipped.)
        this.mark(offset, length);
        if (isReboundError(err, 'JOURNAL_FULL')) this.fullCount++;
        else this.fail(err);
      },
    );
  }

  private mark(offset: number, length: number): void {
    const bs = this.blockSizeBytes;
    const sizeBlocks = Math.ceil(this.volumeBytes() / bs);
    this.overflow ??= new BlockSet(sizeBlocks);
    if (this.overflow.sizeBlocks < sizeBlocks) this.overflow.resize(sizeBlocks);
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + Math.max(1, length) - 1) / bs);
    this.overflow.addRange(first, Math.min(last, sizeBlocks - 1) - first + 1);
    this.events.wake();
  }

  private fail(err: unknown): void {
    if (this.broken) return;
    this.broken = true;
    this.overflow ??= new BlockSet(Math.ceil(this.volumeBytes() / this.blockSizeBytes));
    this.events.failed(toReboundError(err));
  }
}
