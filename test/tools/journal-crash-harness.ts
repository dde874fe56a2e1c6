/**
 * The journal crash loop (journal-crash-loop.ts, test/integration/crash-journal.test.ts).
 *
 * Each cycle starts journal-crash-worker.js on one journal directory, lets it append,
 * sync, read and acknowledge for a random time, kills it with SIGKILL, reopens the
 * journal and checks:
 *   1. it opens (a torn tail is cut; nothing else may be wrong);
 *   2. the persisted ack is at least the last one the worker reported;
 *   3. every entry reported durable and not acknowledged is there, with exactly the
 *      contents appended as that seq (entryFor): in each cycle, every seq after the
 *      one the worker opened at, up to the highest it reported durable;
 *   4. every entry present is right and they come in increasing seq order. Seqs may
 *      skip: seqs handed out but never written before a crash are not reused, and
 *      that leaves a gap, harmlessly (no reader ever saw them);
 *   5. no seq is handed out twice: the last seq after reopen is at least every seq
 *      reported written or durable (a kill -9 keeps the page cache), and the next
 *      worker starts above it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Journal } from '../../src/journal/index.js';
import { JOURNAL_OPTIONS, mismatch } from './journal-crash-common.js';

export interface JournalCrashOptions {
  cycles: number;
  /** Kill after a random time in [minMs, maxMs) from the worker's "ready". */
  minMs?: number;
  maxMs?: number;
  dir?: string;
  log?: (line: string) => void;
}

export interface JournalCrashResult {
  cycles: number;
  violations: string[];
  /** Highest seq reported durable over all cycles. */
  durableSeq: number;
  /** Entries checked after the restarts, in all. */
  entriesChecked: number;
}

const WORKER = fileURLToPath(new URL('./journal-crash-worker.js', import.meta.url));

interface Reports {
  ready: number | null;
  durable: number;
  written: number;
  acked: number;
  errors: string[];
}

/** Run the worker until killed; collect what it reported, whole lines only. */
async function runWorker(dir: string, minMs: number, maxMs: number): Promise<Reports & { ranMs: number }> {
  const child = spawn(process.execPath, [WORKER, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const r: Reports = { ready: null, durable: 0, written: 0, acked: 0, errors: [] };
  let readyResolve!: () => void;
  const ready = new Promise<void>((res) => {
    readyResolve = res;
  });
  let rest = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!; // a line cut by the kill is not a report
    for (const line of lines) {
      const [kind, value] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
      const n = Number(value);
      if (kind === 'ready') {
        r.ready = n;
        readyResolve();
      } else if (kind === 'd') r.durable = Math.max(r.durable, n);
      else if (kind === 'w') r.written = Math.max(r.written, n);
      else if (kind === 'a') r.acked = Math.max(r.acked, n);
      else r.errors.push(line);
    }
  });
  const exited = new Promise<void>((res) => child.on('close', () => res()));
  await Promise.race([ready, exited]);
  const ranMs = minMs + Math.floor(Math.random() * (maxMs - minMs));
  await new Promise((res) => setTimeout(res, ranMs));
  child.kill('SIGKILL');
  await exited;
  return { ...r, ranMs };
}

export async function runJournalCrashLoop(options: JournalCrashOptions): Promise<JournalCrashResult> {
  const log = options.log ?? (() => {});
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'rebound-journal-crash-')));
  const minMs = options.minMs ?? 150;
  const maxMs = options.maxMs ?? 800;
  const violations: string[] = [];
  /** Per cycle, the seqs [from, to] promised durable. */
  const promised: [number, number][] = [];
  let durableEver = 0;
  let lastSeqSeen = 0;
  let entriesChecked = 0;

  for (let cycle = 1; cycle <= options.cycles && violations.length === 0; cycle++) {
    const bad = (what: string) => violations.push(`cycle ${cycle}: ${what}`);
    const rep = await runWorker(dir, minMs, maxMs);
    if (rep.errors.length > 0) {
      bad(`worker reported: ${rep.errors.join(' / ')}`);
      break;
    }
    if (rep.ready === null) {
      bad('worker never became ready');
      break;
    }
    if (rep.ready < lastSeqSeen)
      bad(`worker opened at last seq ${rep.ready}, below ${lastSeqSeen} seen before`);
    durableEver = Math.max(durableEver, rep.durable);
    if (rep.durable > rep.ready) promised.push([rep.ready + 1, rep.durable]);

    let journal: Journal;
    try {
      journal = await Journal.open(dir, JOURNAL_OPTIONS);
    } catch (err) {
      bad(`journal does not open after the crash: ${(err as Error).message}`);
      break;
    }
    try {
      const st = journal.stats();
      if (st.ackedSeq < rep.acked) bad(`acked seq ${st.ackedSeq} below the reported ack ${rep.acked}`);
      if (st.lastSeq < Math.max(rep.durable, rep.written)) {
        bad(`last seq ${st.lastSeq} below the reported durable ${rep.durable} / written ${rep.written}`);
      }
      const present = new Set<number>();
      let prev = st.ackedSeq;
      for (;;) {
        const page = await journal.read(prev + 1, { maxBytes: 4 * 1024 * 1024 });
        if (page.length === 0) break;
        for (const r of page) {
          if (r.seq <= prev) bad(`seq ${r.seq} after ${prev}: out of order`);
          const why = mismatch(r.seq, r);
          if (why) bad(`seq ${r.seq}: ${why}`);
          present.add(r.seq);
          prev = r.seq;
          entriesChecked++;
        }
      }
      for (const [from, to] of promised) {
        let missing = 0;
        let firstMissing = 0;
        for (let seq = Math.max(from, st.ackedSeq + 1); seq <= to; seq++) {
          if (!present.has(seq) && missing++ === 0) firstMissing = seq;
        }
        if (missing > 0)
          bad(`${missing} durable entries of ${from}..${to} missing, the first ${firstMissing}`);
      }
      lastSeqSeen = st.lastSeq;
      log(
        `cycle ${cycle}: ran ${rep.ranMs} ms; durable ${rep.durable}, written ${rep.written}, acked ${rep.acked} ` +
          `(persisted ${st.ackedSeq}); after restart ${st.unackedEntries} entries in ${st.segments} segments` +
          `${journal.repairs.length ? `; ${journal.repairs.join('; ')}` : ''}`,
      );
    } finally {
      await journal.close();
    }
  }
  if (!options.dir && violations.length === 0) await rm(dir, { recursive: true, force: true });
  else log(`journal kept in ${dir}`);
  return { cycles: options.cycles, violations, durableSeq: durableEver, entriesChecked };
}
