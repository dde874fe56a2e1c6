/**
 * Journal crash loop: `node dist/test/tools/journal-crash-loop.js --cycles N [--dir D]
 * [--min-ms A --max-ms B]` (or `npm run crash:journal -- --cycles N`). Kills a worker
 * appending to a journal with SIGKILL N times and checks after each restart that every
 * durable entry is there, in order, with its contents, and that no seq is reused
 * (journal-crash-harness.ts). Exits 1 on any violation.
 */
import { parseArgs } from 'node:util';
import { runJournalCrashLoop } from './journal-crash-harness.js';

const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '50' },
    dir: { type: 'string' },
    'min-ms': { type: 'string', default: '150' },
    'max-ms': { type: 'string', default: '800' },
  },
});

const result = await runJournalCrashLoop({
  cycles: Number(values.cycles),
  dir: values.dir,
  minMs: Number(values['min-ms']),
  maxMs: Number(values['max-ms']),
  log: (line) => console.log(line),
});
if (result.violations.length > 0) {
  console.error(`JOURNAL CRASH LOOP FAILED: ${result.violations.length} violation(s):`);
  for (const v of result.violations.slice(0, 50)) console.error(`  ${v}`);
  process.exit(1);
}
console.log(
  `journal crash loop passed: ${result.cycles} cycles, durable up to seq ${result.durableSeq}, ` +
    `${result.entriesChecked} entries checked, no violations`,
);
