// Guards against docs/errors.md drifting from the codes the code actually uses.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { ERROR_CODES } from '../../../src/errors.js';

it('docs/errors.md lists every error code with its HTTP status, NBD error and meaning', () => {
  const rows = new Map<string, string[]>();
  for (const line of readFileSync('docs/errors.md', 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length >= 7 && /^[A-Z_]+$/.test(cells[1])) rows.set(cells[1], cells.slice(2, 6));
  }
  assert.deepEqual([...rows.keys()].sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    assert.deepEqual(
      rows.get(code),
      [String(info.http), info.nbd, info.retryable ? 'yes' : 'no', info.doc],
      code,
    );
  }
});
