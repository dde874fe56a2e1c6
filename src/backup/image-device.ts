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
 * checked as one job of the codec pool (worker threads). A block failing its checksum
 * fails the whole read with BACKUP_OBJECT_CORRUPT naming the object: no byte of that
 * read is returned. Blocks no generation holds, and zero blocks, read as zeros without
 * any fetch; blockStatus reports them as holes.
 */
import type { Extent } from '../block/device.js';
import { checkRange } from '../block/range.js';
import { ReadOnlyDevice } from '../block/read-only-device.js';
import type { ObjectStore } from '../objectstore/types.js';
import { loadPlan, type Plan } from './chain.js';
import { type CodecPool, codecPool, sharedBuffer } from './codec-pool.js';
import { CHECKSUM_BYTES } from './crypto.js';
import type { Catalog } from './format.js';
import { BLOCK_ZERO, corrupt, NO_OBJECT } from './format.js';

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
}

interface Group {
  gen: number;
  object: number;
  window: number;
  blocks: number[];
}

export class BackupImageDevice extends ReadOnlyDevice {
  readonly sizeBytes: number;
  readonly blockSizeBytes: number;
  /** Counters for tests and progress: ranged gets issued and blocks decoded. */
  readonly stats = { fetches: 0, bytesFetched: 0, blocksDecoded: 0 };
  private readonly windowBytes: number;
  private readonly cacheWindows: number;
  private readonly pool: CodecPool;
  private readonly windows = new Map<string, Promise<{ start: number; bytes: Buffer }>>();
  private readonly spans: Map<string, { start: number; end: number }>[] = [];

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
  }

  /** Open generation `key` (a generation or catalog key): reads its chain's catalogs and metadata. */
  static async open(store: ObjectStore, key: string, options: ImageOptions = {}): Promise<BackupImageDevice> {
    return new BackupImageDevice(store, await loadPlan(store, key, options.encryptionKey), options);
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
    return (this.plan.chain[g - 1].meta.flags[this.plan.entry[b]] & BLOCK_ZERO) === 0;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    checkRange(this, offset, length);
    const out = sharedBuffer(length); // the codec pool's workers decode straight into it
    if (length === 0) return out;
    const bs = this.blockSizeBytes;
    const first = Math.floor(offset / bs);
    const end = Math.ceil((offset + length) / bs);
    const { owner, entry, chain } = this.plan;

    // Group the data blocks by fetch window (generation, data object, window of its
    // stored bytes); each window is one ranged get, cached for the reads that follow.
    const groups = new Map<string, Group>();
    for (let b = first; b < end; b++) {
      if (!this.isData(b)) continue;
      const g = owner[b] - 1;
      const e = entry[b];
      const { index } = chain[g];
      const object = index.object[e];
      const window = Math.floor(index.offset[e] / this.windowBytes);
      const k = `${g}/${object}/${window}`;
      const group = groups.get(k);
      if (group) group.blocks.push(b);
      else groups.set(k, { gen: g, object, window, blocks: [b] });
    }

    await Promise.all(
      [...groups.values()].map(async (grp) => {
        const { gen, meta, index, keys } = chain[grp.gen];
        const key = meta.objects[grp.object];
        const win = await this.fetchWindow(grp.gen, grp.object, grp.window);
        const n = grp.blocks.length;
        const blocks = Float64Array.from(grp.blocks);
        const offsets = new Float64Array(n);
        const lengths = new Uint32Array(n);
        const flags = new Uint8Array(n);
        const checksums = new Uint8Array(n * CHECKSUM_BYTES);
        const outOffsets = new Float64Array(n);
        let lo = Number.POSITIVE_INFINITY;
        let hi = 0;
        for (let i = 0; i < n; i++) {
          const e = entry[grp.blocks[i]];
          offsets[i] = index.offset[e];
          lengths[i] = meta.lengths[e];
          flags[i] = meta.flags[e];
          checksums.set(
            meta.checksums.subarray(e * CHECKSUM_BYTES, (e + 1) * CHECKSUM_BYTES),
            i * CHECKSUM_BYTES,
          );
          outOffsets[i] = grp.blocks[i] * bs - offset;
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
        // Decoded and checked in the codec pool, straight into `out`: a block failing its
        // checksum rejects the job and this read, so `out` is never returned.
        await this.pool.decode(win.bytes.subarray(lo - win.start, hi - win.start), {
          blockSizeBytes: bs,
          blocks,
          offsets,
          lengths,
          flags,
          checksums,
          keys,
          uniqueId: gen.catalog.uniqueId,
          where: key,
          out,
          outOffsets,
        });
        this.stats.blocksDecoded += n;
      }),
    );
    return out;
  }

  /**
   * The stored bytes of window `window` of data object `object` of chain generation
   * `gen`: from the first payload starting in it to the end of the last one (a payload
   * belongs to the window its first byte is in). One ranged get, kept in a small LRU
   * (in flight included) so consecutive reads share it.
   */
  private fetchWindow(
    gen: number,
    object: number,
    window: number,
  ): Promise<{ start: number; bytes: Buffer }> {
    const k = `${gen}/${object}/${window}`;
    const hit = this.windows.get(k);
    if (hit) {
      this.windows.delete(k);
      this.windows.set(k, hit);
      return hit;
    }
    const span = this.spanOf(gen, object, window);
    const key = this.plan.chain[gen].meta.objects[object];
    const p = (async () => {
      const got = await this.store.get(key, { offset: span.start, length: span.end - span.start });
      this.stats.fetches++;
      this.stats.bytesFetched += got.length;
      if (got.length !== span.end - span.start) {
        throw corrupt(key, `truncated: wanted bytes [${span.start}, ${span.end}), got ${got.length}`);
      }
      // Once into shared memory: every job decoding from this window reads it in place.
      const bytes = sharedBuffer(got.length);
      got.copy(bytes);
      return { start: span.start, bytes };
    })();
    p.catch(() => {
      if (this.windows.get(k) === p) this.windows.delete(k);
    });
    this.windows.set(k, p);
    while (this.windows.size > this.cacheWindows) {
      const oldest = this.windows.keys().next().value as string;
      this.windows.delete(oldest);
    }
    return p;
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
