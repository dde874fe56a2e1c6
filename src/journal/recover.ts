/**
 * Recovery at open: read the state file and every segment, in seq order, and check
 * every byte (CRCs included) once, so no damaged record is ever handed out as valid.
 * Repairs only what a crash can leave, and only in the newest segment:
 *   - a torn last record (or several): the file is truncated after the last good one;
 *   - a torn header (a crash while the segment was being created): the file is removed.
 * Anything else bad is JOURNAL_CORRUPT naming the file and offset. Open therefore reads
 * the whole journal once; it holds only what the peer has not acknowledged (plus at
 * most one segment), so that is the journal lag, not the history.
 */
import { open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ReboundError, toReboundError } from '../errors.js';
import { fsyncDir } from '../pool/index.js';
import { type LiveSegment, lastSeqOf, parseSegmentName, scanSegment } from './segment.js';
import { readState, STATE_FILE } from './state.js';

export interface Recovered {
  segments: LiveSegment[];
  ackedSeq: number;
  /** The next seq to hand out: above every seq ever used, acknowledged or trimmed. */
  nextSeq: number;
  stateExists: boolean;
  /** What was repaired, for the caller's log. */
  repairs: string[];
}

export async function recoverJournal(dir: string): Promise<Recovered> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ReboundError('NOT_FOUND', `no journal at ${dir}`, { cause: err });
    }
    throw toReboundError(err);
  }
  const repairs: string[] = [];
  // Leftovers of an atomic state replacement that crashed before its rename.
  if (names.includes(`${STATE_FILE}.tmp`)) await unlink(join(dir, `${STATE_FILE}.tmp`));
  const state = await readState(dir);
  let nextSeq = Math.max(1, state?.nextSeqFloor ?? 1, (state?.ackedSeq ?? 0) + 1);

  const found = names
    .map((name) => ({ name, firstSeq: parseSegmentName(name) }))
    .filter((s): s is { name: string; firstSeq: number } => s.firstSeq !== null)
    .sort((a, b) => a.firstSeq - b.firstSeq);
  const segments: LiveSegment[] = [];
  for (let i = 0; i < found.length; i++) {
    const { name, firstSeq } = found[i];
    const path = join(dir, name);
    const buf = await readFile(path);
    const newest = i === found.length - 1;
    const scan = scanSegment(buf, path, firstSeq, newest);
    // Its name is a seq once reserved: never hand it out again, even for a dropped file.
    nextSeq = Math.max(nextSeq, firstSeq);
    if (!scan.headerOk) {
      await unlink(path);
      await fsyncDir(dir);
      repairs.push(`removed ${name}: header torn by a crash while it was created`);
      continue;
    }
    const prev = segments[segments.length - 1];
    if (prev && firstSeq <= lastSeqOf(prev)) {
      throw new ReboundError(
        'JOURNAL_CORRUPT',
        `journal segment ${path}: first seq ${firstSeq} overlaps the previous segment (up to ${lastSeqOf(prev)})`,
        { detail: { file: path, offset: 0 } },
      );
    }
    if (newest) {
      // A killed process may have left its last writes only in the page cache: cut the
      // torn tail, and make what was found durable, so the journal starts with
      // everything it holds durable (older segments were sealed by an fdatasync).
      const fh = await open(path, 'r+');
      try {
        if (scan.end < buf.length) await fh.truncate(scan.end);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      if (scan.end < buf.length) {
        repairs.push(`truncated ${name} at byte ${scan.end}: torn tail of ${buf.length - scan.end} bytes`);
      }
    }
    const seg: LiveSegment = { firstSeq, path, offsets: scan.offsets, bytes: scan.end };
    segments.push(seg);
    nextSeq = Math.max(nextSeq, lastSeqOf(seg) + 1);
  }
  return { segments, ackedSeq: state?.ackedSeq ?? 0, nextSeq, stateExists: state !== null, repairs };
}
