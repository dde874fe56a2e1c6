/**
 * Crash loop: `node dist/test/tools/crash-loop.js --cycles N [--dir D] [--min-ms A --max-ms B]`.
 * Kills a worker doing random I/O with SIGKILL N times and checks, after each restart,
 * that durable writes read back, nothing reads foreign or stale data, and the update
 * bitmaps cover every changed block (crash-harness.ts). Exits 1 on any violation.
 */
import { runCrashLoop } from './crash-harness.js';
import { runLoopCli } from './loop-cli.js';

await runLoopCli(
  'crash loop',
  { cycles: 20, minMs: 200, maxMs: 1500 },
  runCrashLoop,
  (r) => `${r.cycles} cycles, ${r.opsIssued} ops issued, ${r.opsDurable} made durable, no violations`,
);
