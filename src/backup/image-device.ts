/**
 * A backup generation as a read-only BlockDevice (DESIGN.md "The one abstraction"): the
 * generation's chain resolved once into a plan (block -> newest generation holding it),
 * reads fetched from the data objects with ranged gets and verified before they are
 * returned. Restore is the copy engine from this device to a volume; the NBD server can
 * export it so a backup is mounted without restoring it.
 *
 * Fetches are by window: each data object's stored bytes are cut into fixed windows
 * (`maxFetchBytes`, 2 MiB), a payload belongs to the window its first byte is in, and a
 * window is one ranged get (first payload in it to the end of the last), kept in a small
 * LRU so that consecutive reads (restore's chunks) share it: holes, zero blocks and
 * blocks a newer generation holds never split a fetch, and the number of gets does not
 * depend on how a reader cuts its reads. Fetches of one read run in parallel (the store
 * bounds its own concurrency). The blocks a read needs from a window are decoded and
 * checked as one job of the codec pool (worker threads); readDataRanges does the same for
 * many ranges at once (the copy engine's batches of scattered chunks), so a failback's
 * 20,000 single blocks cost a hundred jobs, not 20,000. A block failing its checksum
 * fails the whole read with BACKUP_OBJECT_CORRUPT naming the object: no byte of that
 * read is returned. Blocks no generation holds, and zero blocks, read as zeros without
 * any fetch; blockStatus reports them as holes.
 *
 * Memory: a restore moves every byte through here, and on a small node fresh buffers
 * (page faults, zeroing, collection) cost as much as the copies. Windows are fetched
 * straight into reused shared memory (the store's getInto where it has one), and read
 * buffers the caller gives back (`recycle`, which restore wires to the copy engine) are
 * handed out again, their non-data parts zeroed.
 */

import type { ByteRange, Extent } from '../block/device.js';
import { fullMask } from '../block/grain-masks.js';
import { checkRange } from '../block/range.js';
import { ReadOnlyDevice } from '../block/read-only-device.js';
import { ReboundError } from '../errors.js';
import type { ObjectStore } from '../objectstore/types.js';
import { alignedBuffer } from '../volume/index.js';
import { BufferPool } from './buffers.js';
import { type Layer, loadPlan, type Plan } from './chain.js';
import { type CodecPool, codecPool, sharedBuffer } from './codec-pool.js';
import { CHECKSUM_BYTES } from './crypto.js';
import type { Catalog } from './format.js';
import { BLOCK_ZERO, corrupt, entryBytes, maxStoredBytes, NO_OBJECT } from './format.js';

const EMPTY = Buffer.alloc(0);

export interface ImageOptions {
  encryptionKey?: Buffer;
  /**
   * Fetch window: the stored bytes of each data object are fetched in windows of this
   * size (one ranged get each, plus the tail of the last payload starting in it). Default 2 MiB.
   */
  maxFetchBytes?: number;
  /** Fetched windows kept for the reads that follow. Default 16. */
  cacheWindows?: number;
  /** Default: the process's codec pool (codec-pool.ts). */
  codecPool?: CodecPool;
  /**
   * Read buffers in aligned memory (pool/aligned-memory.ts), which a volume can write
   * with direct I/O (restore). For readers that give their buffers back (`recycle`): each
   * is a memory mapping of its own, dearer to make than a SharedArrayBuffer. Default false.
   */
  alignedReads?: boolean;
  /**
   * Show only the blocks of the generation opened; the blocks its ancestors hold read as
   * holes, and their metadata is never loaded (chain.ts loadPlan). For applying that
   * generation as a delta onto a volume at its parent (restore's onlyNewest). Default false.
   */
  newestOnly?: boolean;
}

interface Group {
  gen: number;
  object: number;
  window: number;
  /** Where the group decodes to: the read's output, or the scratch of layered blocks. */
  target: 'out' | 'scratch';
  blocks: number[];
  entries: number[];
  /** Where each entry goes in `target` (may start before it or run past its end). */
  outs: number[];
}

/** A block built from several entries (Plan.layers), being read. */
interface Layered {
  block: number;
  /** Where the block goes in the read's output (may start before it or run past its end). */
  out: number;
  /** Each layer's plaintext in the scratch buffer (-1: a zero entry, nothing decoded). */
  layers: { layer: Layer; at: number }[];
}

/** A fetched window in the cache. `users` counts reads decoding from it right now. */
interface Window {
  key: string;
  ready: Promise<void>;
  start: number;
  /** The stored bytes, a view of `memory` (shared, so jobs read them in place). */
  bytes: Buffer;
  memory: Buffer | undefined;
  users: number;
  evicted: boolean;
}

export class BackupImageDevice extends ReadOnlyDevice {
  readonly sizeBytes: number;
  readonly blockSizeBytes: number;
  /** Counters for tests and progress: ranged gets issued and blocks decoded. */
  readonly stats = { fetches: 0, bytesFetched: 0, blocksDecoded: 0 };
  private readonly windowBytes: number;
  private readonly cacheWindows: number;
  private readonly pool: CodecPool;
  private readonly windows = new Map<string, Window>();
  private readonly spans: Map<string, { start: number; end: number }>[] = [];
  /** Window memory: the largest span a window can have (a payload may start at its last byte). */
  private readonly windowMemoryBytes: number;
  private readonly windowMemory: BufferPool;
  /**
   * Read outputs given back by `recycle`. Shared memory: the codec pool's workers decode
   * into it in place (aligned with `alignedReads`).
   */
  private readonly outputs: BufferPool;
  /** Outputs `read` handed out, the only buffers `recycle` takes back. */
  private readonly handedOut = new WeakSet<Buffer>();
  /** readDataRanges outputs: views of power-of-two buffers, handed out with their base. */
  private readonly batchOutputs: BufferPool;
  private readonly batchBases = new WeakMap<Buffer, Buffer>();

  private constructor(
    private readonly store: ObjectStore,
    readonly plan: Plan,
    options: ImageOptions,
  ) {
    super();
    this.sizeBytes = plan.sizeBytes;
    this.blockSizeBytes = plan.blockSizeBytes;
    this.windowBytes = Math.max(1, options.maxFetchBytes ?? 2 * 1024 * 1024);
    this.cacheWindows = Math.max(1, options.cacheWindows ?? 16);
    this.pool = options.codecPool ?? codecPool();
    this.windowMemoryBytes = this.windowBytes + maxStoredBytes(plan.blockSizeBytes, true);
    this.windowMemory = new BufferPool(sharedBuffer, this.cacheWindows + 8);
    this.outputs = new BufferPool(options.alignedReads ? alignedBuffer : sharedBuffer, 10);
    this.batchOutputs = new BufferPool(options.alignedReads ? alignedBuffer : sharedBuffer, 10);
  }

  /** Open generation `key` (a generation or catalog key): reads its chain's catalogs and metadata. */
  static async open(store: ObjectStore, key: string, options: ImageOptions = {}): Promise<BackupImageDevice> {
    const plan = await loadPlan(store, key, options.encryptionKey, { newestOnly: options.newestOnly });
    return new BackupImageDevice(store, plan, options);
  }

  /** The catalog of the generation this image shows. */
  get catalog(): Catalog {
    const c = this.plan.chain;
    return c[c.length - 1].gen.catalog;
  }

  get generationKey(): string {
    const c = this.plan.chain;
    return c[c.length - 1].gen.key;
  }

  /** True when block `b` is stored as data (not a hole, not a zero block). */
  private isData(b: number): boolean {
    const g = this.plan.owner[b];
    if (g === 0) return false;
    if (this.plan.layers.has(b)) return true;
    return (this.plan.chain[g - 1].meta.flags[this.plan.entry[b]] & BLOCK_ZERO) === 0;
  }

  /**
   * Blocks of which the plan supplies only some grains, and those grains: with
   * `newestOnly`, a delta's partial entries (the other grains are not part of it, and a
   * restore must leave them as the destination has them). Empty for a whole chain.
   */
  partialBlocks(): Map<number, number> {
    const out = new Map<number, number>();
    const { grainBytes, blockSizeBytes } = this.plan;
    if (!grainBytes) return out;
    const full = fullMask(blockSizeBytes / grainBytes);
    for (const [b, layers] of this.plan.layers) {
      let grains = 0;
      for (const l of layers) grains = (grains | l.grains) >>> 0;
      if (grains !== full) out.set(b, grains);
    }
    return out;
  }

  /**
   * Give back a buffer `read` returned, once the caller no longer uses it (the copy
   * engine's `recycle`): a later read may return it again, so a restore keeps reusing a
   * few buffers instead of faulting in fresh memory for every chunk.
   */
  recycle(buf: Buffer): void {
    const base = this.batchBases.get(buf);
    if (base) {
      this.batchBases.delete(buf);
      this.batchOutputs.give(base);
      return;
    }
    if (!this.handedOut.delete(buf)) return;
    this.outputs.give(buf);
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.readBlocks(offset, length, true);
  }

  /** read, with the bytes of holes and zero blocks left as the reused buffer had them (BlockDevice.readData). */
  readData(offset: number, length: number): Promise<Buffer> {
    return this.readBlocks(offset, length, false);
  }

  private async readBlocks(offset: number, length: number, zeroHoles: boolean): Promise<Buffer> {
    checkRange(this, offset, length);
    if (length === 0) return sharedBuffer(0);
    // Shared memory: the codec pool's workers decode straight into it. A buffer given
    // back (recycle) holds old bytes: zero what no block is decoded into, unless the
    // caller never looks there (readData). (A fresh one is no cheaper: calloc zeroes all
    // of it, or its pages fault in zeroed.)
    const out = this.outputs.take(length);
    this.handedOut.add(out);
    await this.decodeRanges([{ offset, length, at: 0 }], out, zeroHoles);
    return out;
  }

  /**
   * BlockDevice.readDataRanges: the data of many ranges (a copy engine batch of scattered
   * chunks) back to back, their blocks decoded in one codec job per fetch window instead
   * of one per range. Ranges must be block-aligned (all the copy engine asks for; the
   * last may end at the device's end); others are read one by one.
   */
  async readDataRanges(ranges: readonly ByteRange[]): Promise<Buffer> {
    const bs = this.blockSizeBytes;
    let total = 0;
    let aligned = true;
    let prevEnd = 0;
    for (const r of ranges) {
      checkRange(this, r.offset, r.length);
      if (r.offset < prevEnd) {
        throw new ReboundError('INVALID_ARGUMENT', 'readDataRanges: ranges overlap or are out of order');
      }
      const end = r.offset + r.length;
      if (r.offset % bs !== 0 || (end % bs !== 0 && end !== this.sizeBytes)) aligned = false;
      if (r.length > 0) prevEnd = end;
      total += r.length;
    }
    // Buffers of a few sizes (powers of two), reused: batches' totals all differ.
    const base = this.batchOutputs.take(2 ** Math.ceil(Math.log2(Math.max(total, 64 * 1024))));
    const out = base.subarray(0, total);
    this.batchBases.set(out, base);
    try {
      if (aligned) {
        const parts: { offset: number; length: number; at: number }[] = [];
        let at = 0;
        for (const r of ranges) {
          parts.push({ ...r, at });
          at += r.length;
        }
        await this.decodeRanges(parts, out, false);
      } else {
        let at = 0;
        for (const r of ranges) {
          if (r.length === 0) continue;
          const one = await this.readBlocks(r.offset, r.length, false);
          one.copy(out, at);
          this.recycle(one);
          at += r.length;
        }
      }
    } catch (err) {
      this.batchBases.delete(out);
      this.batchOutputs.give(base);
      throw err;
    }
    return out;
  }

  /**
   * Decode the blocks of `parts` into `out` (part i's bytes at out[at, at + length)); with
   * `zeroHoles`, the bytes of holes and zero blocks are zeroed, else left as they were.
   * A part that is not block-aligned must be alone (its edge blocks are clipped to `out`).
   */
  private async decodeRanges(
    parts: readonly { offset: number; length: number; at: number }[],
    out: Buffer,
    zeroHoles: boolean,
  ): Promise<void> {
    const bs = this.blockSizeBytes;
    const { owner, entry, chain } = this.plan;

    // Group the data blocks by fetch window (generation, data object, window of its
    // stored bytes); each window is one ranged get, cached for the reads that follow.
    // Runs of other blocks (holes, zero blocks) read as zeros. A layered block's entries
    // decode into a scratch buffer first, and their grains are pasted into `out` after.
    const { groups, addEntry } = this.grouper();
    const layered: Layered[] = [];
    let scratchBytes = 0;
    let scratch: Buffer = EMPTY;
    for (const part of parts) {
      if (part.length === 0) continue;
      const first = Math.floor(part.offset / bs);
      const end = Math.ceil((part.offset + part.length) / bs);
      const shift = part.at - part.offset; // out position of device byte x: x + shift
      let zerosFrom = -1; // first block of the run of holes and zero blocks being passed
      const zeroRun = (to: number) => {
        if (zeroHoles && zerosFrom >= 0) {
          out.fill(
            0,
            Math.max(part.at, zerosFrom * bs + shift),
            Math.min(part.at + part.length, to * bs + shift),
          );
        }
        zerosFrom = -1;
      };
      for (let b = first; b < end; b++) {
        if (!this.isData(b)) {
          if (zerosFrom < 0) zerosFrom = b;
          continue;
        }
        zeroRun(b);
        const layers = this.plan.layers.get(b);
        if (layers) {
          const item: Layered = { block: b, out: b * bs + shift, layers: [] };
          for (const layer of layers) {
            const { meta } = chain[layer.gen];
            if (meta.flags[layer.entry] & BLOCK_ZERO) item.layers.push({ layer, at: -1 });
            else {
              item.layers.push({ layer, at: scratchBytes });
              addEntry(layer.gen, layer.entry, b, 'scratch', scratchBytes);
              scratchBytes += entryBytes(meta, layer.entry);
            }
          }
          layered.push(item);
          continue;
        }
        addEntry(owner[b] - 1, entry[b], b, 'out', b * bs + shift);
      }
      zeroRun(end);
    }
    if (scratchBytes > 0) scratch = sharedBuffer(scratchBytes);
    await this.decodeGroups(groups, out, scratch);
    for (const item of layered) this.paste(item, scratch, out);
  }

  /**
   * Entries to decode, grouped by fetch window (generation, data object, window of its
   * stored bytes) and target; each window is one ranged get, cached for the reads that
   * follow.
   */
  private grouper(): {
    groups: Map<string, Group>;
    addEntry: (g: number, e: number, block: number, target: 'out' | 'scratch', at: number) => void;
  } {
    const { chain } = this.plan;
    const groups = new Map<string, Group>();
    let last: Group | undefined;
    const addEntry = (g: number, e: number, block: number, target: 'out' | 'scratch', at: number) => {
      const { index } = chain[g];
      const object = index.object[e];
      const window = Math.floor(index.offset[e] / this.windowBytes);
      if (
        !(
          last &&
          last.gen === g &&
          last.object === object &&
          last.window === window &&
          last.target === target
        )
      ) {
        const k = `${target}/${g}/${object}/${window}`;
        last = groups.get(k);
        if (!last) {
          last = { gen: g, object, window, target, blocks: [], entries: [], outs: [] };
          groups.set(k, last);
        }
      }
      last.blocks.push(block);
      last.entries.push(e);
      last.outs.push(at);
    };
    return { groups, addEntry };
  }

  /** Decode every group into its target. */
  private async decodeGroups(groups: Map<string, Group>, out: Buffer, scratch: Buffer): Promise<void> {
    // Hold every window first (none is reused while this read waits for it), and let go
    // only when every job reading it has ended, failed or not.
    const taken = [...groups.values()].map((grp) => ({
      grp,
      win: this.takeWindow(grp.gen, grp.object, grp.window),
    }));
    const settled = await Promise.allSettled(
      taken.map(({ grp, win }) => this.decodeGroup(grp, win, grp.target === 'out' ? out : scratch)),
    );
    for (const { win } of taken) this.releaseWindow(win);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
  }

  /**
   * The grains of partly held blocks (partialBlocks) of an image opened `newestOnly`, as
   * its delta stores them: block i's entry holds the grains of `masks[i]`, in order,
   * packed, at `at[i]` of `data` (-1: a zero entry, its grains read as zeros), decoded in
   * one codec job per fetch window. No block is assembled around them: a delta's apply
   * writes the grains alone. `data` is memory of a few sizes, reused once the caller
   * gives it back (recycle): every byte of it is decoded into, so no old byte shows.
   */
  async readPartialGrains(
    blocks: readonly number[],
  ): Promise<{ data: Buffer; at: number[]; masks: number[] }> {
    const { groups, addEntry } = this.grouper();
    const at: number[] = [];
    const masks: number[] = [];
    let bytes = 0;
    for (const b of blocks) {
      const layers = this.plan.layers.get(b);
      if (layers?.length !== 1)
        throw new ReboundError(
          'INTERNAL',
          `readPartialGrains: block ${b} is not a partial block of one entry`,
        );
      const { gen, entry } = layers[0];
      const { meta } = this.plan.chain[gen];
      masks.push(meta.masks?.[entry] ?? 0);
      if (meta.flags[entry] & BLOCK_ZERO) {
        at.push(-1);
        continue;
      }
      at.push(bytes);
      addEntry(gen, entry, b, 'scratch', bytes);
      bytes += entryBytes(meta, entry);
    }
    // A fresh one per batch was 85 MB of zeroed shared memory for a failback's 20,000
    // grains, and collections to match.
    const base = this.batchOutputs.take(2 ** Math.ceil(Math.log2(Math.max(bytes, 64 * 1024))));
    const data = base.subarray(0, bytes);
    this.batchBases.set(data, base);
    try {
      await this.decodeGroups(groups, EMPTY, data);
    } catch (err) {
      this.recycle(data); // every job has ended (decodeGroups waits for all of them)
      throw err;
    }
    return { data, at, masks };
  }

  /**
   * Build a layered block in `out` from its layers' plaintext in `scratch`: each layer's
   * grains where it supplies them, zeros where none does (clipped to `out`).
   */
  private paste(item: Layered, scratch: Buffer, out: Buffer): void {
    const bs = this.blockSizeBytes;
    const grain = this.plan.grainBytes;
    const from = Math.max(0, item.out);
    const to = Math.min(out.length, item.out + bs);
    if (to <= from) return;
    out.fill(0, from, to);
    for (const { layer, at } of item.layers) {
      if (at < 0) continue; // a zero entry: its grains stay zero
      const mask = this.plan.chain[layer.gen].meta.masks?.[layer.entry] ?? 0;
      let k = 0; // the grain's place in the entry's packed plaintext
      for (let g = 0; g * grain < bs; g++) {
        const inEntry = mask === 0 || ((mask >>> g) & 1) === 1;
        if (!inEntry) continue;
        if ((layer.grains >>> g) & 1) {
          const dst = item.out + g * grain;
          const lo = Math.max(dst, from);
          const hi = Math.min(dst + grain, to);
          if (hi > lo) scratch.copy(out, lo, at + k * grain + (lo - dst), at + k * grain + (hi - dst));
        }
        k++;
      }
    }
  }

  /** Decode the entries of `grp` from window `win` into `target`. */
  private async decodeGroup(grp: Group, win: Window, target: Buffer): Promise<void> {
    const { gen, meta, index, keys } = this.plan.chain[grp.gen];
    const key = meta.objects[grp.object];
    await win.ready;
    const n = grp.blocks.length;
    const blocks = Float64Array.from(grp.blocks);
    const offsets = new Float64Array(n);
    const lengths = new Uint32Array(n);
    const plainLengths = new Uint32Array(n);
    const flags = new Uint8Array(n);
    const checksums = new Uint8Array(n * CHECKSUM_BYTES);
    const outOffsets = new Float64Array(n);
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    for (let i = 0; i < n; i++) {
      const e = grp.entries[i];
      offsets[i] = index.offset[e];
      lengths[i] = meta.lengths[e];
      plainLengths[i] = entryBytes(meta, e);
      flags[i] = meta.flags[e];
      checksums.set(
        meta.checksums.subarray(e * CHECKSUM_BYTES, (e + 1) * CHECKSUM_BYTES),
        i * CHECKSUM_BYTES,
      );
      outOffsets[i] = grp.outs[i];
      lo = Math.min(lo, offsets[i]);
      hi = Math.max(hi, offsets[i] + lengths[i]);
    }
    if (lo < win.start || hi > win.start + win.bytes.length) {
      throw corrupt(
        key,
        `payloads [${lo}, ${hi}) lie outside fetch window [${win.start}, ${win.start + win.bytes.length})`,
      );
    }
    for (let i = 0; i < n; i++) offsets[i] -= lo;
    // Decoded and checked in the codec pool, straight into the target: a block failing
    // its checksum rejects the job and this read, so nothing of it is returned.
    await this.pool.decode(win.bytes.subarray(lo - win.start, hi - win.start), {
      blockSizeBytes: this.blockSizeBytes,
      blocks,
      offsets,
      lengths,
      flags,
      checksums,
      plainLengths,
      keys,
      uniqueId: gen.catalog.uniqueId,
      where: key,
      out: target,
      outOffsets,
    });
    this.stats.blocksDecoded += n;
  }

  /**
   * Window `window` of data object `object` of chain generation `gen`: the stored bytes
   * from the first payload starting in it to the end of the last one (a payload belongs
   * to the window its first byte is in). One ranged get, kept in a small LRU (in flight
   * included) so consecutive reads share it. The caller holds it (`users`) until
   * releaseWindow: an evicted window's memory is reused only once nobody holds it.
   */
  private takeWindow(gen: number, object: number, window: number): Window {
    const k = `${gen}/${object}/${window}`;
    const hit = this.windows.get(k);
    if (hit) {
      this.windows.delete(k);
      this.windows.set(k, hit);
      hit.users++;
      return hit;
    }
    const span = this.spanOf(gen, object, window);
    const key = this.plan.chain[gen].meta.objects[object];
    const win: Window = {
      key: k,
      ready: Promise.resolve(),
      start: span.start,
      bytes: EMPTY,
      memory: undefined,
      users: 1,
      evicted: false,
    };
    win.ready = (async () => {
      const size = span.end - span.start;
      const range = { offset: span.start, length: size };
      // Into shared memory: every job decoding from this window reads it in place.
      const memory =
        size <= this.windowMemoryBytes ? this.windowMemory.take(this.windowMemoryBytes) : sharedBuffer(size);
      let got: number;
      try {
        if (this.store.getInto) got = await this.store.getInto(key, range, memory);
        else {
          const bytes = await this.store.get(key, range);
          got = bytes.copy(memory, 0, 0, Math.min(bytes.length, memory.length));
          if (bytes.length > memory.length) got = bytes.length;
        }
      } catch (err) {
        if (memory.length === this.windowMemoryBytes) this.windowMemory.give(memory);
        throw err;
      }
      this.stats.fetches++;
      this.stats.bytesFetched += got;
      if (got !== size) {
        if (memory.length === this.windowMemoryBytes) this.windowMemory.give(memory);
        throw corrupt(key, `truncated: wanted bytes [${span.start}, ${span.end}), got ${got}`);
      }
      win.memory = memory;
      win.bytes = memory.subarray(0, size);
    })();
    win.ready.catch(() => {
      if (this.windows.get(k) === win) this.windows.delete(k);
    });
    this.windows.set(k, win);
    while (this.windows.size > this.cacheWindows) {
      const oldest = this.windows.values().next().value as Window;
      this.windows.delete(oldest.key);
      oldest.evicted = true;
      this.free(oldest);
    }
    return win;
  }

  private releaseWindow(win: Window): void {
    win.users--;
    this.free(win);
  }

  /** An evicted window nobody holds gives its memory back. */
  private free(win: Window): void {
    if (!win.evicted || win.users > 0 || !win.memory) return;
    if (win.memory.length === this.windowMemoryBytes) this.windowMemory.give(win.memory);
    win.memory = undefined;
    win.bytes = EMPTY;
  }

  /** First payload start and last payload end of a window (computed per generation once). */
  private spanOf(gen: number, object: number, window: number): { start: number; end: number } {
    let spans = this.spans[gen];
    if (!spans) {
      spans = new Map();
      const { meta, index } = this.plan.chain[gen];
      for (let e = 0; e < meta.lengths.length; e++) {
        if (meta.lengths[e] === 0 || index.object[e] === NO_OBJECT) continue;
        const at = index.offset[e];
        const k = `${index.object[e]}/${Math.floor(at / this.windowBytes)}`;
        const s = spans.get(k);
        if (!s) spans.set(k, { start: at, end: at + meta.lengths[e] });
        else {
          s.start = Math.min(s.start, at);
          s.end = Math.max(s.end, at + meta.lengths[e]);
        }
      }
      this.spans[gen] = spans;
    }
    const s = spans.get(`${object}/${window}`);
    if (!s) throw new Error(`no payload in window ${window} of object ${object}`);
    return s;
  }

  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    checkRange(this, offset, length);
    const bs = this.blockSizeBytes;
    const extents: Extent[] = [];
    const stop = offset + length;
    let at = offset;
    while (at < stop) {
      const b = Math.floor(at / bs);
      const next = Math.min(stop, (b + 1) * bs);
      const hole = !this.isData(b);
      const last = extents[extents.length - 1];
      if (last && last.hole === hole) last.length += next - at;
      else extents.push({ offset: at, length: next - at, hole, zero: hole });
      at = next;
    }
    return extents;
  }
}
