/**
 * What a pair keeps on disk, in `<nodeData>/pairs/<name>/`:
 *
 *   pair.json    the pair's config and state (this file's PairRecord), replaced atomically
 *   blocks.set   delta pairs: the frozen bitmap's blocks as they were at the start (the
 *                block-set encoding, docs/formats/bitmap.md), so a bitmap frozen again
 *                or deleted later cannot change what the pair copies
 *   journal/     the pair's write journal (docs/formats/journal.md)
 *
 * Secrets: a PSK key is sealed with the node's SecretBox; views never carry it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ReboundError, toReboundError } from '../errors.js';
import { writeFileAtomic } from '../pool/index.js';

export const PAIR_FILE = 'pair.json';
export const BLOCKS_FILE = 'blocks.set';
export const JOURNAL_DIR = 'journal';
const RECORD_VERSION = 1;

export type PairState = 'initial-copy' | 'streaming' | 'releasing' | 'released' | 'failed';
export type PairMode = 'delta' | 'full';

/** Where the pair copies to, as the API takes it. */
export interface PairTargetSpec {
  host: string;
  port: number;
  export: string;
  tls?: { pskIdentity: string; pskKey: string } | { caFile: string; serverName?: string };
}

/** The target as stored: the PSK key sealed. */
export interface StoredTarget {
  host: string;
  port: number;
  export: string;
  tls: null | { pskIdentity: string; sealedPskKey: string } | { caFile: string; serverName: string | null };
}

export interface PairRecord {
  version: number;
  name: string;
  volume: string;
  mode: PairMode;
  /** Delta: the frozen bitmap named at the start (its blocks are in blocks.set). */
  bitmap: string | null;
  target: StoredTarget;
  /**
   * An active bitmap the pair keeps on the volume from its start: every block written
   * since, marked durably before the data. After a crash it says what to copy again.
   */
  pairBitmap: string;
  state: PairState;
  error: { code: string; message: string } | null;
  startedAt: string;
  copiedAt: string | null;
  releasedAt: string | null;
  blocksToCopy: number;
  blocksCopied: number;
  bytesCopied: number;
  entriesShipped: number;
  bytesShipped: number;
  /**
   * The node stopped cleanly with every write in the journal. False while running: a
   * node that finds it false after a restart copies the pair bitmap's blocks again.
   */
  cleanStop: boolean;
  /** Copy the pair bitmap's blocks again before streaming (set after a crash, cleared once done). */
  resync: boolean;
  /**
   * The unit of the copy's sets and of blocksToCopy/blocksCopied: a delta copies the
   * grains a host wrote (4 KiB of a 64 KiB block), a full copy whole blocks. Absent
   * (a full copy, or a record from before grains): the volume's block size.
   */
  unitBytes?: number;
}

/** The API's view of a pair (api-schema.ts PairView). */
export interface PairView {
  name: string;
  volume: string;
  mode: PairMode;
  state: PairState;
  target: { host: string; port: number; export: string };
  blocksToCopy: number;
  blocksCopied: number;
  /** The unit of blocksToCopy and blocksCopied, in bytes (PairRecord.unitBytes). */
  blockBytes: number;
  bytesCopied: number;
  journal: { entriesShipped: number; bytesShipped: number; lagEntries: number; lagBytes: number };
  error: { code: string; message: string } | null;
  /**
   * The target cannot be reached or dropped the connection: the pair waits and tries
   * again (attempt n of the retry policy), the copy or the journal held until it can.
   * Null while connected and moving.
   */
  retrying: PairRetry | null;
  startedAt: string;
  copiedAt: string | null;
  releasedAt: string | null;
}

/** Why a pair is waiting to try its target again, since when and until when. */
export interface PairRetry {
  attempt: number;
  code: string;
  message: string;
  since: string;
  nextAttemptAt: string;
}

export function newRecord(
  init: Pick<PairRecord, 'name' | 'volume' | 'mode' | 'bitmap' | 'target' | 'pairBitmap'>,
): PairRecord {
  return {
    version: RECORD_VERSION,
    ...init,
    state: 'initial-copy',
    error: null,
    startedAt: new Date().toISOString(),
    copiedAt: null,
    releasedAt: null,
    blocksToCopy: 0,
    blocksCopied: 0,
    bytesCopied: 0,
    entriesShipped: 0,
    bytesShipped: 0,
    cleanStop: false,
    resync: false,
  };
}

export async function readRecord(dir: string): Promise<PairRecord | null> {
  const file = join(dir, PAIR_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw toReboundError(err);
  }
  const r = JSON.parse(text) as PairRecord;
  if (r.version !== RECORD_VERSION) {
    throw new ReboundError('INVALID_ARGUMENT', `${file}: pair record version ${r.version} unknown`);
  }
  return r;
}

export function writeRecord(dir: string, record: PairRecord): Promise<void> {
  return writeFileAtomic(join(dir, PAIR_FILE), Buffer.from(`${JSON.stringify(record, null, 2)}\n`));
}
