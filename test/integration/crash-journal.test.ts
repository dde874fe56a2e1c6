/**
 * A short journal crash loop (4 SIGKILL cycles): every entry reported durable is there
 * after the restart, in order, with its contents; no seq is reused. The long run is
 * `npm run crash:journal -- --cycles N`.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runJournalCrashLoop } from '../tools/journal-crash-harness.js';

it('the journal keeps every durable entry through 4 SIGKILL crashes', { timeout: 60_000 }, async () => {
  const result = await runJournalCrashLoop({ cycles: 4, minMs: 150, maxMs: 700 });
  assert.deepEqual(result.violations, []);
  assert.ok(result.durableSeq > 0, 'the worker made entries durable');
  assert.ok(result.entriesChecked > 0, 'entries were left to check after the crashes');
});
