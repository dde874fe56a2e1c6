/**
 * A short crash loop (5 kill -9 cycles): durable writes survive, no stale or foreign
 * data, bitmaps never under-report. The long run is `npm run crash -- --cycles N`.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runCrashLoop } from '../tools/crash-harness.js';

it('survives 5 SIGKILL crashes with every promise kept', { timeout: 60_000 }, async () => {
  const result = await runCrashLoop({ cycles: 5, minMs: 200, maxMs: 1200 });
  assert.deepEqual(result.violations, []);
  assert.ok(result.opsDurable > 0, 'the worker made writes durable');
});
