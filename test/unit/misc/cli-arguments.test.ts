// What the CLI says about arguments it can judge before asking the manager.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generationKey } from '../../../src/cli/keys.js';
import { isReboundError } from '../../../src/errors.js';

describe('CLI arguments', () => {
  it('takes a generation key and points a generation number at the KEY column', () => {
    const key = 'volumes/A95B9516-2/catalog/0000000001-20261206T040059Z-2c8b7af7';
    assert.equal(generationKey(key, '<generation>'), key);
    assert.throws(
      () => generationKey('1', '<generation>'),
      (err) =>
        isReboundError(err, 'INVALID_ARGUMENT') &&
        /<generation> "1" is not a generation key: give one from the KEY column of rebound backup list/.test(
          err.message,
        ),
    );
  });
});
