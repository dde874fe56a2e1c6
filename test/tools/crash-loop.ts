/**
 * Crash loop: `node dist/test/tools/crash-loop.js --cycles N [--dir D] [--min-ms A --max-ms B]`.
 * Kills a worker doing random I/O with SIGKILL N times and checks, after each restart,
 * that durable writes read back, nothing reads foreign or stale data, and the update
 * bitmaps cover every changed block (crash-harness.ts). Exits 1 on any violation.
 */
import { parseArgs } from 'node:util';
import { runCrashLoop } from './crash-harness.js';

const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '20' },
    dir: { type: 'string' },
    'min-ms': { type: 'string', default: '200' },
    'max-ms': { type: 'string', default: '1500' },
  },
});

const result = await runCrashLoop({
  cycles: Number(values.cycles),
  dir: values.dir,
  minMs: Number(values['min-ms']),
  maxMs: Number(values['max-ms']),
  log: (line) => console.log(line),
});
if (result.violations.length > 0) {
  console.error(`CRASH LOOP FAILED: ${result.violations.length} violation(s):`);
  for (const v of result.violations.slice(0, 50)) console.error(`  ${v}`);
  process.exit(1);
}
console.log(
  `crash loop passed: ${result.cycles} cycles, ${result.opsIssued} ops issued, ${result.opsDurable} made durable, no violations`,
);
