/**
 * A journal segment file: a 32-byte header, then records (record.ts) with consecutive
 * sequence numbers starting at the header's first seq (docs/formats/journal.md).
 *
 *   seg-00000000000000000001.rbj   first seq 1
 *   seg-00000000000000004711.rbj   first seq 4711 (the name sorts like the number)
 *
 * `scanSegment` is the recovery check of one file's bytes, pure (no I/O): it returns
 * where the good records end, and decides whether what follows is a torn tail (dropped)
 * or damage (JOURNAL_CORRUPT, naming the file and offset). Only the newest segment can
 * have a torn tail: a segment is fdatasync'ed before the next one is started (sealed).
 */
import { ReboundError } from '../errors.js';
import { crc32c } from '../pool/index.js';
import { RECORD_HEADER_BYTES, recordSeqAt, validRecordAt } from './record.js';

export const SEGMENT_MAGIC = 0x52424a4e; // "RBJN"
export const JOURNAL_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 32;

const NAME_PATTERN = /^seg-(\d{20})\.rbj$/;

export function segmentName(firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(20, '0')}.rbj`;
}

/** The first seq a segment file name carries, or null when the name is not a segment's. */
export function parseSegmentName(name: string): number | null {
  const m = NAME_PATTERN.exec(name);
  if (!m) return null;
  const seq = Number(m[1]);
  return Number.isSafeInteger(seq) && seq >= 1 ? seq : null;
}

/** magic u32 | version u16 | reserved u16 | first seq u64 | created ms u64 | reserved u32 | crc u32. */
export function encodeSegmentHeader(firstSeq: number, createdMs: number): Buffer {
  const h = Buffer.alloc(SEGMENT_HEADER_BYTES);
  h.writeUInt32BE(SEGMENT_MAGIC, 0);
  h.writeUInt16BE(JOURNAL_VERSION, 4);
  h.writeUInt32BE(Math.floor(firstSeq / 0x1_0000_0000), 8);
  h.writeUInt32BE(firstSeq >>> 0, 12);
  h.writeUInt32BE(Math.floor(createdMs / 0x1_0000_0000), 16);
  h.writeUInt32BE(createdMs >>> 0, 20);
  h.writeUInt32BE(crc32c(h, 0, 28), 28);
  return h;
}

export type HeaderCheck = { ok: true; version: number; firstSeq: number } | { ok: false; why: string };

export function checkSegmentHeader(buf: Buffer): HeaderCheck {
  if (buf.length < SEGMENT_HEADER_BYTES) return { ok: false, why: `header short (${buf.length} bytes)` };
  if (buf.readUInt32BE(0) !== SEGMENT_MAGIC) return { ok: false, why: 'bad magic' };
  if (crc32c(buf, 0, 28) !== buf.readUInt32BE(28)) return { ok: false, why: 'bad header CRC' };
  return {
    ok: true,
    version: buf.readUInt16BE(4),
    firstSeq: buf.readUInt32BE(8) * 0x1_0000_0000 + buf.readUInt32BE(12),
  };
}

export interface ScanResult {
  /** False: the header itself is torn (a crash while the newest segment was created). */
  headerOk: boolean;
  /** Byte offset of each good record; record i has seq firstSeq + i. */
  offsets: number[];
  /** End of the last good record; bytes after it (if any) are a torn tail to cut off. */
  end: number;
}

function corrupt(file: string, offset: number, why: string): ReboundError {
  return new ReboundError('JOURNAL_CORRUPT', `journal segment ${file}: ${why} at byte ${offset}`, {
    detail: { file, offset },
  });
}

/** The first offset after `from` where a well-formed record starts, or -1. */
function nextValidRecord(buf: Buffer, from: number): number {
  for (let p = from; p + RECORD_HEADER_BYTES <= buf.length; p++) {
    if (validRecordAt(buf, p) > 0) return p;
  }
  return -1;
}

/**
 * Check the bytes of segment `file` whose name says `firstSeq`. `newest`: this is the
 * last segment, where a crash may have left a torn header or a torn last record.
 *
 * A bad record with a good record after it is damage, not a crash: a crash only ever
 * cuts the end of the newest segment. (After a power loss the unsynced end may also
 * reach the disk with holes; those entries were never promised durable, but a hole
 * followed by a good record is still reported, never silently skipped.)
 */
export function scanSegment(buf: Buffer, file: string, firstSeq: number, newest: boolean): ScanResult {
  const header = checkSegmentHeader(buf);
  if (!header.ok) {
    // The header is made durable before any record is written to the segment, so a
    // torn header with a good record behind it is damage too.
    if (newest && nextValidRecord(buf, SEGMENT_HEADER_BYTES) < 0) {
      return { headerOk: false, offsets: [], end: 0 };
    }
    throw corrupt(file, 0, header.why);
  }
  // A well-formed header of another version is no torn write: refuse it, never drop it.
  if (header.version !== JOURNAL_VERSION) throw corrupt(file, 4, `format version ${header.version} unknown`);
  if (header.firstSeq !== firstSeq) {
    throw corrupt(file, 8, `header says first seq ${header.firstSeq}, the name ${firstSeq}`);
  }
  const offsets: number[] = [];
  let at = SEGMENT_HEADER_BYTES;
  while (at < buf.length) {
    const n = validRecordAt(buf, at);
    if (n < 0) {
      if (!newest) throw corrupt(file, at, 'bad record');
      const good = nextValidRecord(buf, at + 1);
      if (good >= 0) throw corrupt(file, at, `bad record before a good one at byte ${good}`);
      return { headerOk: true, offsets, end: at }; // torn tail
    }
    const seq = recordSeqAt(buf, at);
    const want = firstSeq + offsets.length;
    if (seq !== want) throw corrupt(file, at, `record has seq ${seq}, expected ${want}`);
    offsets.push(at);
    at += n;
  }
  return { headerOk: true, offsets, end: at };
}

/** A segment as the journal keeps it in memory: where each written record starts. */
export interface LiveSegment {
  readonly firstSeq: number;
  readonly path: string;
  /** Byte offset of record i (seq firstSeq + i); only records whose write completed. */
  readonly offsets: number[];
  /** Bytes of the file in use: header plus the written records. */
  bytes: number;
}

/** Seq of the segment's last written record (firstSeq - 1 when it has none). */
export function lastSeqOf(seg: LiveSegment): number {
  return seg.firstSeq + seg.offsets.length - 1;
}
