/**
 * Block allocation: reference counts, reservations and the quarantine of freed blocks.
 *
 * Reference counts are not persisted: at open they are rebuilt from the mapping tables
 * (a block is in use when at least one volume or snapshot maps it). A block is free when
 * no table maps it and it is not reserved. Reserved blocks are either
 *   - allocated to a write still in flight (not yet in any table), or
 *   - quarantined: freed by a trim/delete/overwrite whose metadata record is not yet
 *     durable, or which an I/O that started before the free may still be reading.
 * A quarantined block is handed out again only once the free is durable (else a crash
 * would bring the old mapping back, pointing at another volume's new data) and every
 * I/O older than the free has finished (else an old read could see the new data).
 *
 *   free --alloc--> reserved --map--> mapped (refs >= 1) --unmap to 0--> quarantined
 *     ^                |  (write failed)                                    |
 *     +----------------+-------------------- free durable, old I/O done ----+
 *
 * Which free block a write gets: one below `top` (the highest block ever handed out or
 * mapped) before any above it. A drive is a sparse file, and every block above `top` is
 * still a hole in it. A cursor walking the whole pool handed out holes while the blocks
 * freed behind it (those a fold empties, a deleted volume's) waited for it to come round, so
 * the file grew towards its full size whatever the pool held: 1.18 GiB more for each 1%
 * failback of an 8 GiB volume in bench/failback.ts. Freed blocks first keep the file the
 * size the pool has needed, and a write into one overwrites extents the file already
 * has. Below `top` the search is next-fit from a cursor, skipping groups of blocks with
 * none free; above it blocks go out in order, so blocks allocated together are adjacent
 * (one I/O for a run of them, drives.ts).
 */
import { ReboundError } from '../errors.js';

interface Quarantined {
  pbn: number;
  /** Log sequence number of the record that freed it. */
  seq: number;
  /** I/O epoch at the free: wait until every I/O of this epoch or older ends. */
  epoch: number;
}

/** Blocks per group of the free counts that let the search skip full stretches. */
const GROUP = 1024;

export class Allocator {
  private readonly refs: Uint32Array;
  private readonly reserved: Uint8Array;
  private freeCount: number;
  /** Free blocks per GROUP blocks (group g holds blocks g*GROUP .. g*GROUP+GROUP-1). */
  private readonly groupFree: Uint32Array;
  /** The highest block ever handed out or mapped: every block above it is free, and a hole. */
  private top = 0;
  /** Where the next-fit search below `top` goes on (1..top). */
  private cursor = 1;
  private quarantine: Quarantined[] = [];
  private ioEpoch = 1;
  /** In-flight I/O count per epoch; Map order is epoch order, so the first key is the oldest. */
  private readonly inflight = new Map<number, number>();

  constructor(readonly totalBlocks: number) {
    this.refs = new Uint32Array(totalBlocks + 1);
    this.reserved = new Uint8Array(totalBlocks + 1);
    this.freeCount = totalBlocks;
    const last = Math.floor(totalBlocks / GROUP);
    this.groupFree = new Uint32Array(last + 1).fill(GROUP);
    this.groupFree[0] = GROUP - 1; // block 0 does not exist
    this.groupFree[last] -= GROUP - 1 - (totalBlocks % GROUP); // the last group ends at totalBlocks
  }

  get freeBlocks(): number {
    return this.freeCount;
  }

  /**
   * Blocks mapped or reserved for a write in flight. Quarantined blocks count as free:
   * they are given back as soon as their free is durable (allocation commits to get them).
   */
  get usedBlocks(): number {
    return this.totalBlocks - this.freeCount - this.quarantine.length;
  }

  get quarantinedBlocks(): number {
    return this.quarantine.length;
  }

  /** Reads and writes still running (any epoch). */
  get ioInFlight(): number {
    let n = 0;
    for (const count of this.inflight.values()) n += count;
    return n;
  }

  refCount(pbn: number): number {
    return this.refs[pbn];
  }

  /** Rebuild: count one more mapping of `pbn` (used at open, before any allocation). */
  addRef(pbn: number): void {
    if (pbn < 1 || pbn > this.totalBlocks) {
      throw new ReboundError(
        'POOL_CORRUPT',
        `mapping points at pool block ${pbn} outside 1..${this.totalBlocks}`,
      );
    }
    if (this.refs[pbn]++ === 0 && !this.reserved[pbn]) this.taken(pbn);
    if (pbn > this.top) this.top = pbn;
  }

  /** Reserve a free block for a write; throws POOL_NO_SPACE when there is none. */
  allocate(): number {
    if (this.freeCount === 0) {
      throw new ReboundError('POOL_NO_SPACE', `pool full: all ${this.totalBlocks} blocks in use`);
    }
    // Every block above `top` is free, so the free ones below it are the rest.
    const p = this.freeCount > this.totalBlocks - this.top ? this.nextFreeBelowTop() : ++this.top;
    this.reserved[p] = 1;
    this.taken(p);
    return p;
  }

  /** Next-fit among blocks 1..top, of which at least one is free. */
  private nextFreeBelowTop(): number {
    const top = this.top;
    let p = this.cursor > top ? 1 : this.cursor;
    // Two passes over 1..top at most: from the cursor to the top, then from 1.
    for (let wrapped = 0; wrapped < 2; ) {
      if (this.groupFree[Math.floor(p / GROUP)] === 0) {
        p = (Math.floor(p / GROUP) + 1) * GROUP; // the next group's first block
      } else if (this.refs[p] === 0 && this.reserved[p] === 0) {
        this.cursor = p + 1;
        return p;
      } else {
        p++;
      }
      if (p > top) {
        p = 1;
        wrapped++;
      }
    }
    throw new Error(`allocator: free count ${this.freeCount} but no free block up to ${top}`);
  }

  /** Block `pbn` stops being free. */
  private taken(pbn: number): void {
    this.freeCount--;
    this.groupFree[Math.floor(pbn / GROUP)]--;
  }

  /** Block `pbn` is free again. */
  private freed(pbn: number): void {
    this.freeCount++;
    this.groupFree[Math.floor(pbn / GROUP)]++;
  }

  /** A reserved block was not used (the write failed): give it back at once, it was never mapped. */
  unreserve(pbn: number): void {
    this.reserved[pbn] = 0;
    if (this.refs[pbn] === 0) this.freed(pbn);
  }

  /** A reserved block is now in a mapping table. */
  mapReserved(pbn: number): void {
    this.reserved[pbn] = 0;
    this.refs[pbn]++;
  }

  /** Another table maps an already mapped block (a snapshot shares it). */
  share(pbn: number): void {
    this.refs[pbn]++;
  }

  /** A table stops mapping `pbn`; at zero the block goes to quarantine until `seq` is durable. */
  unref(pbn: number, seq: number): void {
    if (--this.refs[pbn] === 0) {
      this.reserved[pbn] = 1;
      this.quarantine.push({ pbn, seq, epoch: this.ioEpoch });
      this.ioEpoch++;
    }
  }

  beginIo(): number {
    const e = this.ioEpoch;
    this.inflight.set(e, (this.inflight.get(e) ?? 0) + 1);
    return e;
  }

  endIo(epoch: number): void {
    const n = this.inflight.get(epoch)! - 1;
    if (n === 0) this.inflight.delete(epoch);
    else this.inflight.set(epoch, n);
  }

  /** Release quarantined blocks whose free is durable (seq <= durableSeq) and whose old I/O ended. */
  release(durableSeq: number): number {
    if (this.quarantine.length === 0) return 0;
    let oldest = Number.POSITIVE_INFINITY;
    for (const e of this.inflight.keys()) {
      oldest = e;
      break;
    }
    const keep: Quarantined[] = [];
    let released = 0;
    for (const q of this.quarantine) {
      if (q.seq <= durableSeq && q.epoch < oldest) {
        this.reserved[q.pbn] = 0;
        if (this.refs[q.pbn] === 0) this.freed(q.pbn);
        released++;
      } else {
        keep.push(q);
      }
    }
    this.quarantine = keep;
    return released;
  }
}
