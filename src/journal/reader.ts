/**
 * Reading entries back for shipping: find the segment holding `fromSeq` in the
 * in-memory index, read the byte range of the wanted records with one positional read
 * per segment, and check each record again (CRC, length, seq) before handing it out:
 * checksums are checked on write and again on read (STYLE.md point 3), so damage that
 * appears after open is JOURNAL_CORRUPT naming the file and offset, never bad data.
 */
import { open } from 'node:fs/promises';
import { ReboundError, toReboundError } from '../errors.js';
import { decodeRecordAt, type JournalRecord, recordSeqAt, validRecordAt } from './record.js';
import { type LiveSegment, lastSeqOf } from './segment.js';

export interface ReadLimits {
  /** Stop before the entries pass this many bytes on disk (one entry is always returned). */
  maxBytes: number;
  maxEntries: number;
  /** Return no entry above this seq (the written or the durable seq). */
  uptoSeq: number;
}

/** Index of the segment that holds `seq`, or of the first one after it. */
function findSegment(segments: readonly LiveSegment[], seq: number): number {
  let lo = 0;
  let hi = segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (lastSeqOf(segments[mid]) < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

async function readRange(path: string, position: number, length: number): Promise<Buffer> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      // Trimmed under us: every entry in it was acknowledged.
      throw new ReboundError('OUT_OF_RANGE', `journal segment ${path} was trimmed (acknowledged) while read`);
    }
    throw toReboundError(err);
  }
  try {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    if (done < length) {
      throw new ReboundError(
        'JOURNAL_CORRUPT',
        `journal segment ${path}: ends at byte ${position + done}, records run to ${position + length}`,
        { detail: { file: path, offset: position + done } },
      );
    }
    return buf;
  } finally {
    await fh.close();
  }
}

/**
 * Entries with seq >= fromSeq, in order, within the limits. `segments` is a snapshot
 * of the journal's list: records are only ever added to the newest one, and segments
 * only removed from the front, so a snapshot with its counts taken now stays valid.
 */
export async function readEntries(
  segments: readonly LiveSegment[],
  fromSeq: number,
  limits: ReadLimits,
): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  let bytes = 0;
  for (let s = findSegment(segments, fromSeq); s < segments.length; s++) {
    const seg = segments[s];
    // The writer updates offsets and bytes together, so these two agree.
    const written = seg.offsets.length;
    const segEnd = seg.bytes;
    const count = Math.min(written, limits.uptoSeq - seg.firstSeq + 1);
    const first = Math.max(0, fromSeq - seg.firstSeq);
    if (first >= count) break;
    const endOf = (i: number) => (i + 1 < written ? seg.offsets[i + 1] : segEnd);
    let last = first;
    let full = false;
    for (let i = first; i < count; i++) {
      const size = endOf(i) - seg.offsets[i];
      const taken = out.length + (i - first);
      if (taken >= limits.maxEntries || (taken > 0 && bytes + size > limits.maxBytes)) {
        full = true;
        break;
      }
      bytes += size;
      last = i + 1;
    }
    if (last === first) break;
    const start = seg.offsets[first];
    const buf = await readRange(seg.path, start, endOf(last - 1) - start);
    for (let i = first; i < last; i++) {
      const at = seg.offsets[i] - start;
      const want = seg.firstSeq + i;
      if (validRecordAt(buf, at) !== endOf(i) - seg.offsets[i] || recordSeqAt(buf, at) !== want) {
        throw new ReboundError(
          'JOURNAL_CORRUPT',
          `journal segment ${seg.path}: record seq ${want} damaged at byte ${seg.offsets[i]}`,
          { detail: { file: seg.path, offset: seg.offsets[i] } },
        );
      }
      out.push(decodeRecordAt(buf, at));
    }
    if (full) break;
  }
  return out;
}
