/**
 * A backup generation as a read-only BlockDevice (DESIGN.md "The one abstraction"): the
 * generation's chain resolved once into a plan (block -> newest generation holding it),
 * reads fetched from the data objects with ranged gets and verified before they are
 * returned. Restore is the copy engine from this device to a volume; the NBD server can
 * export it so a backup is mounted without restoring it.
 *
 * A read groups its blocks into fetches: runs of blocks whose payloads lie back to back
 * in one data object become one ranged get (up to `maxFetchBytes`); fetches of one read
 * run in parallel (the store bounds its own concurrency). A block failing its checksum
 * fails the whole read with BACKUP_OBJECT_CORRUPT naming the object: no byte of that
 * read is returned. Blocks no generation holds, and zero blocks, read as zeros without
 * any fetch; blockStatus reports them as holes.
 */
import type { BlockDevice, Extent } from '../block/device.js';
import { checkRange } from '../block/range.js';
import type { ObjectStore } from '../objectstore/types.js';
import { loadPlan, type Plan } from './chain.js';
import type { Catalog } from './format.js';
import { BLOCK_ZERO, corrupt, decodeBlock } from './format.js';

export interface ImageOptions {
  encryptionKey?: Buffer;
  /** Largest single ranged get. Default 8 MiB. */
  maxFetchBytes?: number;
}

interface Fetch {
  gen: number;
  object: number;
  offset: number;
  bytes: number;
  blocks: number[];
}

export class BackupImageDevice implements BlockDevice {
  readonly readOnly = true;
  readonly sizeBytes: number;
  readonly blockSizeBytes: number;
  /** Counters for tests and progress: ranged gets issued and blocks decoded. */
  readonly stats = { fetches: 0, bytesFetched: 0, blocksDecoded: 0 };
  private readonly maxFetchBytes: number;

  private constructor(
    private readonly store: ObjectStore,
    readonly plan: Plan,
    options: ImageOptions,
  ) {
    this.sizeBytes = plan.sizeBytes;
    this.blockSizeBytes = plan.blockSizeBytes;
    this.maxFetchBytes = options.maxFetchBytes ?? 8 * 1024 * 1024;
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
    const out = Buffer.alloc(length);
    if (length === 0) return out;
    const bs = this.blockSizeBytes;
    const first = Math.floor(offset / bs);
    const end = Math.ceil((offset + length) / bs);
    const { owner, entry, chain } = this.plan;

    const fetches: Fetch[] = [];
    let cur: Fetch | undefined;
    for (let b = first; b < end; b++) {
      if (!this.isData(b)) {
        cur = undefined;
        continue;
      }
      const g = owner[b] - 1;
      const e = entry[b];
      const { index, meta } = chain[g];
      const at = index.offset[e];
      const len = meta.lengths[e];
      if (
        cur &&
        cur.gen === g &&
        cur.object === index.object[e] &&
        cur.offset + cur.bytes === at &&
        cur.bytes + len <= this.maxFetchBytes
      ) {
        cur.bytes += len;
        cur.blocks.push(b);
      } else {
        cur = { gen: g, object: index.object[e], offset: at, bytes: len, blocks: [b] };
        fetches.push(cur);
      }
    }

    await Promise.all(
      fetches.map(async (f) => {
        const { gen, meta, index, keys } = chain[f.gen];
        const key = meta.objects[f.object];
        const buf = await this.store.get(key, { offset: f.offset, length: f.bytes });
        this.stats.fetches++;
        this.stats.bytesFetched += buf.length;
        if (buf.length !== f.bytes) {
          throw corrupt(
            key,
            `truncated: wanted bytes [${f.offset}, ${f.offset + f.bytes}), got ${buf.length}`,
          );
        }
        for (const b of f.blocks) {
          const e = entry[b];
          const rel = index.offset[e] - f.offset;
          const plain = decodeBlock(
            buf.subarray(rel, rel + meta.lengths[e]),
            meta.flags[e],
            meta.checksums.subarray(e * 32, e * 32 + 32),
            { blockSizeBytes: bs, keys, uniqueId: gen.catalog.uniqueId, block: b, where: key },
          );
          this.stats.blocksDecoded++;
          // Copy the part of the block inside [offset, offset + length).
          const blockStart = b * bs;
          const from = Math.max(offset, blockStart);
          const to = Math.min(offset + length, blockStart + bs);
          plain.copy(out, from - offset, from - blockStart, to - blockStart);
        }
      }),
    );
    return out;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    checkRange(this, offset, data.length, true);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    checkRange(this, offset, length, true);
  }

  async trim(offset: number, length: number): Promise<void> {
    checkRange(this, offset, length, true);
  }

  async flush(): Promise<void> {}

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
