/**
 * `npm run bench:journal`: append throughput of the write journal with 64 KiB writes,
 * as the write path will use it: plain appends (written: in the file, not synced),
 * durable appends one at a time (every write FUA), and durable appends 32 at a time
 * (group commit: concurrent FUA writes share an fdatasync).
 *
 * Options: --mib 256 (data per run), --dir DIR (default: the OS temp dir; put it on
 * the disk the journal will live on), --entry-kib 64.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Journal } from '../src/journal/index.js';

const { values: args } = parseArgs({
  options: {
    mib: { type: 'string', default: '256' },
    dir: { type: 'string' },
    'entry-kib': { type: 'string', default: '64' },
  },
});
const entryBytes = Number(args['entry-kib']) * 1024;
const totalBytes = Number(args.mib) * 1024 * 1024;

async function run(name: string, concurrency: number, durable: boolean, entries: number): Promise<void> {
  const dir = await mkdtemp(join(args.dir ?? tmpdir(), 'rebound-bench-journal-'));
  const journal = await Journal.open(dir, { maxBytes: totalBytes * 2 + 256 * 1024 * 1024 });
  const data = Buffer.alloc(entryBytes);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  try {
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < entries) {
        next++;
        await journal.append(
          { type: 'write', volumeId: 'bench', offset: (next % 16384) * entryBytes, data },
          { durable },
        );
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = (performance.now() - started) / 1000;
    const st = journal.stats();
    console.log(
      `${name.padEnd(34)} ${String(Math.round(entries / seconds)).padStart(7)} entries/s ` +
        `${(entries * entryBytes) / 2 ** 20 / seconds >= 100 ? Math.round((entries * entryBytes) / 2 ** 20 / seconds) : ((entries * entryBytes) / 2 ** 20 / seconds).toFixed(1)} MiB/s` +
        `  (${entries} entries in ${seconds.toFixed(2)} s, ${st.syncRounds} fdatasync rounds)`,
    );
  } finally {
    await journal.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const n = Math.max(1, Math.floor(totalBytes / entryBytes));
console.log(`journal append, ${entryBytes / 1024} KiB writes, ${args.dir ?? tmpdir()}`);
await run('written (not synced), 32 in flight', 32, false, n);
await run('durable, 1 at a time', 1, true, Math.max(1, Math.floor(n / 8)));
await run('durable, 32 in flight (group commit)', 32, true, n);
