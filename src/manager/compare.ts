/**
 * Are two volumes on two nodes identical? Each node hashes its own volume (SHA-256 per
 * 64 KiB block, POST /v1/volumes/:volume/hashes) and only the hashes come here: the
 * failback's verify step and `rebound volume compare` (POST /v1/volume-comparisons).
 *
 *   for each range of RANGE_BLOCKS blocks:  node A hashes ─┐
 *                                           node B hashes ─┴─► diff ─► first mismatches
 *
 * With `only` (a failback's verify of the changed blocks), the unit is the set's block
 * and each node hashes only the blocks of the set: a range spans up to HASHES_MAX_SPAN
 * blocks and holds up to SET_RANGE_BLOCKS of the set, and the set travels with it.
 */
import { BlockSet, diffHashes, HASH_BYTES } from '../block/index.js';
import { ReboundError } from '../errors.js';
import { HASHES_MAX_SPAN } from '../node/api-schema.js';
import type { NodeClient } from '../node/client.js';

/** The unit compared; independent of either pool's block size. */
export const COMPARE_BLOCK_BYTES = 64 * 1024;
/**
 * Blocks per hash request: 256 MiB of volume (128 KiB of hashes), so one call stays well
 * inside the node client's 30 s timeout even on slow drives (the node allows 16,384).
 */
const RANGE_BLOCKS = 4096;
/**
 * Blocks of a set per hash request (the node allows HASHES_MAX_BLOCKS): a changed-blocks
 * verify of 20,000 scattered 4 KiB grains is then 5 requests a node, pipelined.
 */
const SET_RANGE_BLOCKS = 4096;
/** Requests a node has queued at once (read workers hash while the main thread plans). */
const RANGES_AHEAD = 4;
/** Mismatching blocks named in a report. */
const FIRST_MISMATCHES = 16;

export interface VolumeSide {
  client: NodeClient;
  node: string;
  volume: string;
}

export interface ComparisonReport {
  identical: boolean;
  a: { node: string; volume: string; sizeBytes: number };
  b: { node: string; volume: string; sizeBytes: number };
  /** 'full': every block of the volumes; 'changed': only the blocks of the set given. */
  scope: 'full' | 'changed';
  hashBlockBytes: number;
  blocksCompared: number;
  mismatchCount: number;
  /** The first differing blocks, in order, with their byte offsets. */
  firstMismatches: { block: number; offset: number }[];
  /** Set when the volumes are not even the same size. */
  why: string | null;
  /** Of b's hashes, those b answered with what a delta copy from it hashed as it read (`copiedFrom`). */
  hashesFromCopy: number;
}

export async function compareVolumes(
  a: VolumeSide,
  b: VolumeSide,
  options: {
    signal?: AbortSignal;
    onProgress?: (bytesDone: number, bytesTotal: number) => void;
    /**
     * Compare only these blocks, of `blockBytes` each (the set must cover the volume);
     * undefined: every block. A promise is awaited with the volumes' sizes (the round
     * trips that read the set and the sizes go at once).
     */
    only?: ChangedSet | Promise<ChangedSet | undefined>;
    /**
     * b is the source a delta copy into a just read: b may answer a block with the hash
     * the copy took as it read it, if the block has not changed since (a failback's verify;
     * a needs to read back what it holds either way).
     */
    copiedFrom?: 'b';
  } = {},
): Promise<ComparisonReport> {
  const [va, vb, only] = await Promise.all([
    a.client.getVolume(a.volume),
    b.client.getVolume(b.volume),
    options.only,
  ]);
  const sides = {
    a: { node: a.node, volume: a.volume, sizeBytes: va.sizeBytes },
    b: { node: b.node, volume: b.volume, sizeBytes: vb.sizeBytes },
  };
  const report: ComparisonReport = {
    identical: true,
    ...sides,
    scope: only ? 'changed' : 'full',
    hashBlockBytes: only?.blockBytes ?? COMPARE_BLOCK_BYTES,
    blocksCompared: 0,
    mismatchCount: 0,
    firstMismatches: [],
    why: null,
    hashesFromCopy: 0,
  };
  if (va.sizeBytes !== vb.sizeBytes)
    return {
      ...report,
      identical: false,
      why: `the sizes differ: ${va.sizeBytes} and ${vb.sizeBytes} bytes`,
    };
  const unit = report.hashBlockBytes;
  const total = Math.ceil(va.sizeBytes / unit);
  // A bitmap made before the volume grew is shorter: the blocks past it are unset.
  const set = only?.set.clone();
  set?.resize(total);
  const setBlocks = set?.count();
  // Up to RANGES_AHEAD ranges are asked for while one is compared: each node then always
  // has work queued, and plans one range on its main thread while its read workers hash
  // the others (the hashing, not the round trip, sets the pace).
  const ask = (range: HashRange) => {
    const body = {
      startBlock: range.start,
      count: range.count,
      hashBlockBytes: unit,
      ...(range.only ? { only: range.only.encode().toString('base64') } : {}),
    };
    const fromCopy = options.copiedFrom === 'b' ? { fromCopy: true } : {};
    const both = Promise.all([
      a.client.hashes(a.volume, body),
      b.client.hashes(b.volume, { ...body, ...fromCopy }),
    ]);
    both.catch(() => undefined); // awaited below, or dropped once an earlier range failed
    return both;
  };
  const ranges = set ? setRanges(set) : fullRanges(total);
  const queue: { range: HashRange; answer: ReturnType<typeof ask> }[] = [];
  const refill = () => {
    while (queue.length < RANGES_AHEAD) {
      const next = ranges.next();
      if (next.done) return;
      queue.push({ range: next.value, answer: ask(next.value) });
    }
  };
  refill();
  while (queue.length > 0) {
    const { range, answer } = queue.shift()!;
    refill();
    if (options.signal?.aborted)
      throw new ReboundError(
        options.signal.reason === 'cancel' ? 'CANCELLED' : 'SHUTTING_DOWN',
        'the comparison was stopped',
      );
    // The block numbers the hashes stand for, in order.
    const blocks = range.only ? blockNumbers(range.only, range.start) : null;
    const n = blocks ? blocks.length : range.count;
    const [ha, hb] = await answer;
    const ba = Buffer.from(ha.hashes, 'base64');
    const bb = Buffer.from(hb.hashes, 'base64');
    if (ba.length !== n * HASH_BYTES || bb.length !== n * HASH_BYTES)
      throw new ReboundError(
        'INTERNAL',
        `a node returned ${ba.length} and ${bb.length} bytes of hashes for ${n} blocks`,
      );
    const d = diffHashes(ba, bb, 0, FIRST_MISMATCHES - report.firstMismatches.length);
    report.mismatchCount += d.count;
    for (const k of d.first) {
      const block = blocks ? blocks[k] : range.start + k;
      report.firstMismatches.push({ block, offset: block * unit });
    }
    report.blocksCompared += n;
    report.hashesFromCopy += hb.fromCopy ?? 0;
    // Of the set: the blocks compared (a position in the volume would end short of 100%).
    if (setBlocks !== undefined) options.onProgress?.(report.blocksCompared * unit, setBlocks * unit);
    else options.onProgress?.(Math.min(va.sizeBytes, (range.start + range.count) * unit), va.sizeBytes);
  }
  report.identical = report.mismatchCount === 0;
  return report;
}

interface HashRange {
  start: number;
  count: number;
  /** The blocks of the range to hash (bit k: block start + k); null: all of them. */
  only: BlockSet | null;
}

/** The blocks of a range's set (bit k: block start + k), as block numbers of the volume. */
function blockNumbers(only: BlockSet, start: number): number[] {
  const out: number[] = [];
  for (const r of only.runs()) for (let k = 0; k < r.count; k++) out.push(start + r.start + k);
  return out;
}

function* fullRanges(total: number): Generator<HashRange> {
  for (let start = 0; start < total; start += RANGE_BLOCKS)
    yield { start, count: Math.min(RANGE_BLOCKS, total - start), only: null };
}

/** The set cut into ranges a node takes in one call; ranges with none of the set are skipped. */
function* setRanges(set: BlockSet): Generator<HashRange> {
  let start = 0;
  while (start < set.sizeBlocks) {
    let end = Math.min(set.sizeBlocks, start + HASHES_MAX_SPAN);
    let marked = 0;
    for (const r of set.runs(start, end - start)) {
      if (marked + r.count >= SET_RANGE_BLOCKS) {
        end = r.start + (SET_RANGE_BLOCKS - marked);
        marked = SET_RANGE_BLOCKS;
        break;
      }
      marked += r.count;
    }
    if (marked > 0) {
      const only = new BlockSet(end - start);
      for (const r of set.runs(start, end - start)) only.addRange(r.start - start, r.count);
      yield { start, count: end - start, only };
    }
    start = end;
  }
}

/** Blocks of `blockBytes` each. */
export interface ChangedSet {
  set: BlockSet;
  blockBytes: number;
}

/**
 * The blocks set in any of `names` of a volume (those it has; or those whose name passes
 * the test), at the bitmaps' grain: a failback's changed blocks are the secondary's
 * since-restore bitmap and whatever froze out of it into the copy's bitmaps. Undefined
 * when the volume has none of them (the caller compares everything then).
 */
export async function changedSet(
  client: NodeClient,
  volume: string,
  names: string[] | ((name: string) => boolean),
): Promise<ChangedSet | undefined> {
  const wanted = typeof names === 'function' ? names : (name: string) => names.includes(name);
  const present = (await client.listBitmaps(volume)).filter((b) => wanted(b.name));
  if (present.length === 0) return undefined;
  // At the grain where the node tracks one (4 KiB writes into 64 KiB blocks are 4 KiB to
  // copy and compare, not 64); a node without grainBytes predates grains.
  const grain = present[0].grainBytes;
  const unit = grain !== undefined && present.every((b) => b.grainBytes === grain) ? 'grain' : 'block';
  const blockBytes = unit === 'grain' ? grain : present[0].blockSizeBytes;
  const sets = await Promise.all(
    present.map(async (b) => BlockSet.decode(await client.bitmapBits(volume, b.name, unit))),
  );
  const set = new BlockSet(Math.max(...sets.map((x) => x.sizeBlocks)));
  for (const x of sets) {
    x.resize(set.sizeBlocks);
    set.union(x);
  }
  return { set, blockBytes };
}

/**
 * `a` with the blocks of `b` added, in `a`'s unit: a block of `b` marks every block of
 * `a` it overlaps (two nodes' pools may track different grains).
 */
export function unionChanged(a: ChangedSet, b: ChangedSet): ChangedSet {
  const set = a.set.clone();
  for (const r of b.set.runs()) {
    const from = Math.floor((r.start * b.blockBytes) / a.blockBytes);
    const to = Math.ceil(((r.start + r.count) * b.blockBytes) / a.blockBytes);
    if (to > set.sizeBlocks) set.resize(to);
    set.addRange(from, to - from);
  }
  return { set, blockBytes: a.blockBytes };
}

/** One line for logs and errors: "identical (1024 blocks)" or "3 of 1024 blocks differ, first 5, 9, 12". */
export function describeComparison(r: ComparisonReport): string {
  if (r.why) return r.why;
  const what = r.scope === 'changed' ? 'changed blocks' : 'blocks';
  if (r.identical)
    return `identical (${r.blocksCompared} ${what} of ${r.hashBlockBytes / 1024} KiB compared)`;
  return `${r.mismatchCount} of ${r.blocksCompared} ${what} of ${r.hashBlockBytes / 1024} KiB differ, first at block ${r.firstMismatches.map((m) => m.block).join(', ')}`;
}
