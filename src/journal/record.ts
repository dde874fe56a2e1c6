/**
 * The journal record: a pure codec, no files (docs/formats/journal.md, "Records").
 *
 *   0   u32  CRC-32C of bytes 4 .. end of record
 *   4   u16  magic "JR"
 *   6   u8   type: 1 write, 2 zero, 3 trim, 4 marker
 *   7   u8   flags (0)
 *   8   u32  record length in bytes, header included
 *   12  u64  sequence number
 *   20  u64  offset in bytes (0 for a marker)
 *   28  u64  length in bytes (write: of the data; zero, trim: of the range; marker: 0)
 *   36  u16  name length N
 *   38  N    name: the volume ID, or a marker's label (UTF-8)
 *   38+N     write only: the data
 *
 * A record is encoded as a header buffer plus, for a write, the caller's data buffer
 * untouched: the CRC runs over both, and the two are written with one writev, so a
 * 64 KiB write is never copied on its way to the disk.
 */
import { ReboundError } from '../errors.js';
import { crc32c } from '../pool/index.js';

export const RECORD_MAGIC = 0x4a52; // "JR"
export const RECORD_HEADER_BYTES = 38;
/** A write entry carries at most this much data (twice the NBD maximum payload). */
export const MAX_DATA_BYTES = 64 * 1024 * 1024;
/** Volume IDs and marker labels are short; this bounds what a damaged length can claim. */
export const MAX_NAME_BYTES = 1024;
/** Zero and trim ranges: any safe integer, like a BlockDevice offset. */
const MAX_RANGE = Number.MAX_SAFE_INTEGER;

export const RecordType = { write: 1, zero: 2, trim: 3, marker: 4 } as const;
export type EntryType = keyof typeof RecordType;
const TYPE_NAMES: (EntryType | undefined)[] = [undefined, 'write', 'zero', 'trim', 'marker'];

/**
 * What a caller appends. A marker names a consistent point across the volumes of one
 * job: the peer may be told to apply entries only up to a marker (the "journals with
 * markers" of SPEC "Related systems").
 *
 * A trim is kept apart from a zero because it is advisory (BlockDevice contract): the
 * range may keep its old data. A pair that must end byte-identical should journal what
 * the volume actually did (a zero entry over the whole blocks it unmapped) rather than
 * the host's trim request.
 */
export type JournalEntry =
  | { type: 'write'; volumeId: string; offset: number; data: Buffer }
  | { type: 'zero'; volumeId: string; offset: number; length: number }
  | { type: 'trim'; volumeId: string; offset: number; length: number }
  | { type: 'marker'; label: string };

/** An entry as stored and read back: with its sequence number. */
export type JournalRecord = JournalEntry & { seq: number };

function safeInt(v: unknown, max: number): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max;
}

/** Check an entry at the journal's edge (append); everything below asserts instead. */
export function validateEntry(entry: JournalEntry): void {
  const bad = (field: string, why: string) =>
    new ReboundError('INVALID_ARGUMENT', `journal entry: ${field} ${why}`, { detail: { field } });
  if (typeof entry?.type !== 'string' || !Object.hasOwn(RecordType, entry.type)) {
    throw bad('type', `is unknown: ${(entry as { type?: unknown })?.type}`);
  }
  const name = entry.type === 'marker' ? entry.label : entry.volumeId;
  const nameField = entry.type === 'marker' ? 'label' : 'volumeId';
  if (typeof name !== 'string' || name.length === 0) throw bad(nameField, 'must be a non-empty string');
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES)
    throw bad(nameField, `exceeds ${MAX_NAME_BYTES} bytes`);
  switch (entry.type) {
    case 'marker':
      return;
    case 'write':
      if (!Buffer.isBuffer(entry.data)) throw bad('data', 'must be a Buffer');
      if (entry.data.length > MAX_DATA_BYTES) throw bad('data', `exceeds ${MAX_DATA_BYTES} bytes`);
      if (!safeInt(entry.offset, MAX_RANGE - entry.data.length)) throw bad('offset', 'is not a valid offset');
      return;
    case 'zero':
    case 'trim':
      if (!safeInt(entry.length, MAX_RANGE)) throw bad('length', 'is not a valid length');
      if (!safeInt(entry.offset, MAX_RANGE - entry.length)) throw bad('offset', 'is not a valid offset');
      return;
  }
}

function writeU64(buf: Buffer, v: number, at: number): void {
  buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), at);
  buf.writeUInt32BE(v >>> 0, at + 4);
}

function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * 0x1_0000_0000 + buf.readUInt32BE(at + 4);
}

/** Bytes a validated entry takes on disk. */
export function recordBytes(entry: JournalEntry): number {
  const name = entry.type === 'marker' ? entry.label : entry.volumeId;
  return (
    RECORD_HEADER_BYTES + Buffer.byteLength(name, 'utf8') + (entry.type === 'write' ? entry.data.length : 0)
  );
}

/**
 * Encode a validated entry as the buffers to write, in order: the header with its name,
 * then (writes only) the data itself.
 */
export function encodeRecord(seq: number, entry: JournalEntry): Buffer[] {
  const name = Buffer.from(entry.type === 'marker' ? entry.label : entry.volumeId, 'utf8');
  const data = entry.type === 'write' ? entry.data : null;
  const head = Buffer.allocUnsafe(RECORD_HEADER_BYTES + name.length);
  head.writeUInt16BE(RECORD_MAGIC, 4);
  head[6] = RecordType[entry.type];
  head[7] = 0;
  head.writeUInt32BE(head.length + (data?.length ?? 0), 8);
  writeU64(head, seq, 12);
  const offset = entry.type === 'marker' ? 0 : entry.offset;
  const length = entry.type === 'write' ? entry.data.length : entry.type === 'marker' ? 0 : entry.length;
  writeU64(head, offset, 20);
  writeU64(head, length, 28);
  head.writeUInt16BE(name.length, 36);
  name.copy(head, RECORD_HEADER_BYTES);
  let crc = crc32c(head, 4);
  if (data) crc = crc32c(data, 0, data.length, crc);
  head.writeUInt32BE(crc, 0);
  return data ? [head, data] : [head];
}

/**
 * Length of the well-formed record at `buf[at..]`, or -1 when there is none: too short,
 * bad magic, lengths that disagree, an unknown type, or a CRC mismatch. Never throws, so
 * the recovery scan can also probe every byte after a bad record for a good one.
 */
export function validRecordAt(buf: Buffer, at: number): number {
  if (at + RECORD_HEADER_BYTES > buf.length) return -1;
  if (buf.readUInt16BE(at + 4) !== RECORD_MAGIC) return -1;
  const type = buf[at + 6];
  if (TYPE_NAMES[type] === undefined || buf[at + 7] !== 0) return -1;
  const total = buf.readUInt32BE(at + 8);
  const nameBytes = buf.readUInt16BE(at + 36);
  if (nameBytes === 0 || nameBytes > MAX_NAME_BYTES) return -1;
  const length = readU64(buf, at + 28);
  const dataBytes = type === RecordType.write ? length : 0;
  if (type === RecordType.write && length > MAX_DATA_BYTES) return -1;
  if (total !== RECORD_HEADER_BYTES + nameBytes + dataBytes || at + total > buf.length) return -1;
  if (crc32c(buf, at + 4, at + total) !== buf.readUInt32BE(at)) return -1;
  return total;
}

/** The sequence number of the record at `at` (which validRecordAt accepted). */
export function recordSeqAt(buf: Buffer, at: number): number {
  return readU64(buf, at + 12);
}

/**
 * Decode the record validRecordAt accepted at `at`. The data of a write is a view into
 * `buf`, not a copy.
 */
export function decodeRecordAt(buf: Buffer, at: number): JournalRecord {
  const type = TYPE_NAMES[buf[at + 6]]!;
  const seq = readU64(buf, at + 12);
  const offset = readU64(buf, at + 20);
  const length = readU64(buf, at + 28);
  const nameEnd = at + RECORD_HEADER_BYTES + buf.readUInt16BE(at + 36);
  const name = buf.toString('utf8', at + RECORD_HEADER_BYTES, nameEnd);
  switch (type) {
    case 'write':
      return { seq, type, volumeId: name, offset, data: buf.subarray(nameEnd, nameEnd + length) };
    case 'zero':
    case 'trim':
      return { seq, type, volumeId: name, offset, length };
    case 'marker':
      return { seq, type, label: name };
  }
}
