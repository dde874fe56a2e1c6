/** Shared by the journal tests: temp dirs and entries whose contents follow from a number. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JournalEntry, JournalRecord } from '../../../src/journal/index.js';

export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rebound-journal-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A write of `bytes` bytes whose contents say which `n` it is. */
export function writeEntry(n: number, bytes = 4096, volumeId = 'vol-a'): JournalEntry {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (n * 31 + i * 7) & 0xff;
  return { type: 'write', volumeId, offset: n * 4096, data };
}

/** The entry part of a record (drops the seq), for deepEqual against what was appended. */
export function entryOf(r: JournalRecord): JournalEntry {
  const { seq: _seq, ...rest } = r;
  return rest as JournalEntry;
}
