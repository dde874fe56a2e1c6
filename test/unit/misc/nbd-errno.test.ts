// The client's errno -> code table must stay the inverse of the server's code -> errno column.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ERROR_CODES, NBD_ERRNO_CODES, type NbdErrno } from '../../../src/errors.js';

it('every errno a Rebound code produces maps back to a code that produces it', () => {
  const producedByNoCode: NbdErrno[] = ['ENOMEM', 'EOVERFLOW'];
  for (const [errno, code] of Object.entries(NBD_ERRNO_CODES) as [NbdErrno, keyof typeof ERROR_CODES][]) {
    const produced = Object.values(ERROR_CODES).some((info) => info.nbd === errno);
    assert.equal(produced, !producedByNoCode.includes(errno), errno);
    if (produced) assert.equal(ERROR_CODES[code].nbd, errno, `${errno} -> ${code}`);
  }
});
