/**
 * The journal's small state file (docs/formats/journal.md, "State file"): how far the
 * peer has acknowledged, and a floor for the next sequence number. It is replaced
 * atomically (temp file, fsync, rename, fsync of the directory), so after a crash it is
 * the old or the new one, never torn; a bad one is damage (JOURNAL_CORRUPT).
 *
 *   0   u32  magic "RBJS"
 *   4   u16  version (1)
 *   6   u16  reserved (0)
 *   8   u64  acknowledged seq: the peer applied every entry up to it
 *   16  u64  next seq floor: no seq below it is ever handed out again
 *   24  u32  reserved (0)
 *   28  u32  CRC-32C of bytes 0..27
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ReboundError, toReboundError } from '../errors.js';
import { crc32c, writeFileAtomic } from '../pool/index.js';
import { JOURNAL_VERSION } from './segment.js';

export const STATE_MAGIC = 0x52424a53; // "RBJS"
export const STATE_FILE = 'state';
const STATE_BYTES = 32;

export interface JournalState {
  ackedSeq: number;
  nextSeqFloor: number;
}

export function encodeState(state: JournalState): Buffer {
  const b = Buffer.alloc(STATE_BYTES);
  b.writeUInt32BE(STATE_MAGIC, 0);
  b.writeUInt16BE(JOURNAL_VERSION, 4);
  b.writeUInt32BE(Math.floor(state.ackedSeq / 0x1_0000_0000), 8);
  b.writeUInt32BE(state.ackedSeq >>> 0, 12);
  b.writeUInt32BE(Math.floor(state.nextSeqFloor / 0x1_0000_0000), 16);
  b.writeUInt32BE(state.nextSeqFloor >>> 0, 20);
  b.writeUInt32BE(crc32c(b, 0, 28), 28);
  return b;
}

export function decodeState(b: Buffer, file: string): JournalState {
  const bad = (why: string) =>
    new ReboundError('JOURNAL_CORRUPT', `journal state ${file}: ${why}`, { detail: { file } });
  if (b.length !== STATE_BYTES) throw bad(`${b.length} bytes, expected ${STATE_BYTES}`);
  if (b.readUInt32BE(0) !== STATE_MAGIC) throw bad('bad magic');
  if (crc32c(b, 0, 28) !== b.readUInt32BE(28)) throw bad('bad CRC');
  const version = b.readUInt16BE(4);
  if (version !== JOURNAL_VERSION) throw bad(`format version ${version} unknown`);
  return {
    ackedSeq: b.readUInt32BE(8) * 0x1_0000_0000 + b.readUInt32BE(12),
    nextSeqFloor: b.readUInt32BE(16) * 0x1_0000_0000 + b.readUInt32BE(20),
  };
}

/** The state in `dir`, or null when there is none yet. */
export async function readState(dir: string): Promise<JournalState | null> {
  const file = join(dir, STATE_FILE);
  let b: Buffer;
  try {
    b = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw toReboundError(err);
  }
  return decodeState(b, file);
}

export function writeState(dir: string, state: JournalState): Promise<void> {
  return writeFileAtomic(join(dir, STATE_FILE), encodeState(state));
}
