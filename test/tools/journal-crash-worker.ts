/**
 * Journal crash-loop worker: appends entryFor(seq) as fast as it can (up to 32 in
 * flight, a quarter of them durable, a sync() now and then), while a "peer" loop reads
 * durable entries, checks them and acknowledges them (so segments are trimmed and
 * rolled under the appends), until the loop kills it with SIGKILL.
 *
 * Reports on stdout, one line each, only after the fact is true:
 *   ready <lastSeq>   opened; the next seq it hands out is above this
 *   d <seq>           every entry up to seq is durable
 *   w <seq>           every entry up to seq is written (in the file)
 *   a <seq>           the ack up to seq is persisted
 *   error <text>      something went wrong (the loop fails the run)
 *
 * argv: <dir>
 */
import { isReboundError } from '../../src/errors.js';
import { Journal } from '../../src/journal/index.js';
import { entryFor, JOURNAL_OPTIONS, mismatch } from './journal-crash-common.js';

const [dir] = process.argv.slice(2);
const say = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fail(err: unknown): never {
  say(`error ${String((err as Error)?.stack ?? err).replaceAll('\n', ' | ')}`);
  process.exit(3);
}

const journal = await Journal.open(dir, JOURNAL_OPTIONS);
say(`ready ${journal.stats().lastSeq}`);

async function peer(): Promise<void> {
  for (;;) {
    await sleep(40); // lag behind a little, so crashes leave unacknowledged entries to check
    const acked = journal.stats().ackedSeq;
    const records = await journal.read(acked + 1, { maxBytes: 1024 * 1024 }); // durable ones
    if (records.length === 0) continue;
    for (const r of records) {
      const why = mismatch(r.seq, r);
      if (why) fail(`peer read seq ${r.seq}: ${why}`);
    }
    const last = records[records.length - 1].seq;
    await journal.ack(last);
    say(`a ${last}`);
  }
}

async function appender(): Promise<void> {
  let inflight = 0;
  let maxWritten = 0;
  let maxDurable = 0;
  for (let n = 0; ; n++) {
    while (inflight >= 32) await sleep(0);
    const seq = journal.stats().lastSeq + 1;
    const durable = n % 4 === 0;
    inflight++;
    journal
      .append(entryFor(seq), { durable })
      .then((got) => {
        inflight--;
        if (got !== seq) fail(`append returned seq ${got}, expected ${seq}`);
        if (durable && got > maxDurable) {
          maxDurable = got;
          say(`d ${got}`);
        } else if (!durable && got > maxWritten && got % 16 === 0) {
          maxWritten = got;
          say(`w ${got}`);
        }
      })
      .catch((err) => {
        inflight--;
        if (!isReboundError(err, 'JOURNAL_FULL')) fail(err);
      });
    if (n % 50 === 49) {
      const upto = journal.stats().lastSeq;
      journal
        .sync()
        .then(() => say(`d ${upto}`))
        .catch(fail);
    }
    if (n % 8 === 7) await sleep(0);
  }
}

void peer().catch(fail);
void appender().catch(fail);
