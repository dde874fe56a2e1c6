/**
 * Are two volumes on two nodes identical? Each node hashes its own volume (SHA-256 per
 * 64 KiB block, POST /v1/volumes/:volume/hashes) and only the hashes come here: the
 * failback's verify step and `rebound volume compare` (POST /v1/volume-comparisons).
 *
 *   for each range of RANGE_BLOCKS blocks:  node A hashes ─┐
 *                                           node B hashes ─┴─► diff ─► first mismatches
 */
import { diffHashes, HASH_BYTES } from '../block/index.js';
import { ReboundError } from '../errors.js';
import type { NodeClient } from '../node/client.js';

/** The unit compared; independent of either pool's block size. */
export const COMPARE_BLOCK_BYTES = 64 * 1024;
/**
 * Blocks per hash request: 256 MiB of volume (128 KiB of hashes), so one call stays well
 * inside the node client's 30 s timeout even on slow drives (the node allows 16,384).
 */
const RANGE_BLOCKS = 4096;
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
  hashBlockBytes: number;
  blocksCompared: number;
  mismatchCount: number;
  /** The first differing blocks, in order, with their byte offsets. */
  firstMismatches: { block: number; offset: number }[];
  /** Set when the volumes are not even the same size. */
  why: string | null;
}

export async function compareVolumes(
  a: VolumeSide,
  b: VolumeSide,
  options: { signal?: AbortSignal; onProgress?: (bytesDone: number, bytesTotal: number) => void } = {},
): Promise<ComparisonReport> {
  const [va, vb] = await Promise.all([a.client.getVolume(a.volume), b.client.getVolume(b.volume)]);
  const sides = {
    a: { node: a.node, volume: a.volume, sizeBytes: va.sizeBytes },
    b: { node: b.node, volume: b.volume, sizeBytes: vb.sizeBytes },
  };
  const report: ComparisonReport = {
    identical: true,
    ...sides,
    hashBlockBytes: COMPARE_BLOCK_BYTES,
    blocksCompared: 0,
    mismatchCount: 0,
    firstMismatches: [],
    why: null,
  };
  if (va.sizeBytes !== vb.sizeBytes)
    return {
      ...report,
      identical: false,
      why: `the sizes differ: ${va.sizeBytes} and ${vb.sizeBytes} bytes`,
    };
  const total = Math.ceil(va.sizeBytes / COMPARE_BLOCK_BYTES);
  for (let start = 0; start < total; start += RANGE_BLOCKS) {
    if (options.signal?.aborted)
      throw new ReboundError(
        options.signal.reason === 'cancel' ? 'CANCELLED' : 'SHUTTING_DOWN',
        'the comparison was stopped',
      );
    const body = {
      startBlock: start,
      count: Math.min(RANGE_BLOCKS, total - start),
      hashBlockBytes: COMPARE_BLOCK_BYTES,
    };
    const [ha, hb] = await Promise.all([a.client.hashes(a.volume, body), b.client.hashes(b.volume, body)]);
    const ba = Buffer.from(ha.hashes, 'base64');
    const bb = Buffer.from(hb.hashes, 'base64');
    if (ba.length !== body.count * HASH_BYTES || bb.length !== body.count * HASH_BYTES)
      throw new ReboundError(
        'INTERNAL',
        `a node returned ${ba.length} and ${bb.length} bytes of hashes for ${body.count} blocks`,
      );
    const d = diffHashes(ba, bb, start, FIRST_MISMATCHES - report.firstMismatches.length);
    report.mismatchCount += d.count;
    for (const block of d.first) report.firstMismatches.push({ block, offset: block * COMPARE_BLOCK_BYTES });
    report.blocksCompared += body.count;
    options.onProgress?.(Math.min(va.sizeBytes, (start + body.count) * COMPARE_BLOCK_BYTES), va.sizeBytes);
  }
  report.identical = report.mismatchCount === 0;
  return report;
}

/** One line for logs and errors: "identical (1024 blocks)" or "3 of 1024 blocks differ, first 5, 9, 12". */
export function describeComparison(r: ComparisonReport): string {
  if (r.why) return r.why;
  if (r.identical) return `identical (${r.blocksCompared} blocks of ${r.hashBlockBytes / 1024} KiB compared)`;
  return `${r.mismatchCount} of ${r.blocksCompared} blocks of ${r.hashBlockBytes / 1024} KiB differ, first at block ${r.firstMismatches.map((m) => m.block).join(', ')}`;
}
