/**
 * Journal crash loop: `node dist/test/tools/journal-crash-loop.js --cycles N [--dir D]
 * [--min-ms A --max-ms B]` (or `npm run crash:journal -- --cycles N`). Kills a worker
 * appending to a journal with SIGKILL N times and checks after each restart that every
 * durable entry is there, in order, with its contents, and that no seq is reused
 * (journal-crash-harness.ts). Exits 1 on any violation.
 */
import { runJournalCrashLoop } from './journal-crash-harness.js';
import { runLoopCli } from './loop-cli.js';

await runLoopCli(
  'journal crash loop',
  { cycles: 50, minMs: 150, maxMs: 800 },
  runJournalCrashLoop,
  (r) =>
    `${r.cycles} cycles, durable up to seq ${r.durableSeq}, ${r.entriesChecked} entries checked, no violations`,
);
