// Passwords (scrypt, salt and parameters stored), API tokens (hash only), and the role order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Access, allows, hashPassword, hashToken, verifyPassword } from '../../../src/manager/auth.js';
import type { Role } from '../../../src/manager/db/types.js';

describe('passwords and tokens', () => {
  it('hashes a password with scrypt, a fresh salt each time, and checks it', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    assert.match(a, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b, 'salted');
    assert.ok(!a.includes('correct horse'));
    assert.equal(await verifyPassword('correct horse', a), true);
    assert.equal(await verifyPassword('correct horsf', a), false);
    assert.equal(await verifyPassword('', a), false);
  });

  it('reads the cost parameters from the stored hash (they can be raised later)', async () => {
    const stored = await hashPassword('pw-12345678');
    const parts = stored.split('$');
    assert.equal(parts.length, 6);
    // Tampered parameters give another key: the check fails rather than throwing.
    parts[1] = '16384';
    assert.equal(await verifyPassword('pw-12345678', parts.join('$')), false);
  });

  it('refuses a missing or malformed hash (a user without a password)', async () => {
    assert.equal(await verifyPassword('anything', null), false);
    assert.equal(await verifyPassword('anything', 'md5$abc'), false);
  });

  it('stores tokens as SHA-256 hex', () => {
    assert.match(hashToken('rbt_x'), /^[0-9a-f]{64}$/);
    assert.equal(hashToken('rbt_x'), hashToken('rbt_x'));
    assert.notEqual(hashToken('rbt_x'), hashToken('rbt_y'));
  });
});

describe('role checks', () => {
  const table: [Role, Access, boolean][] = [
    ['viewer', 'public', true],
    ['viewer', 'signed-in', true],
    ['viewer', 'viewer', true],
    ['viewer', 'operator', false],
    ['viewer', 'admin', false],
    ['operator', 'viewer', true],
    ['operator', 'operator', true],
    ['operator', 'admin', false],
    ['admin', 'viewer', true],
    ['admin', 'operator', true],
    ['admin', 'admin', true],
  ];
  for (const [role, required, expected] of table) {
    it(`${role} ${expected ? 'may' : 'may not'} call a ${required} route`, () => {
      assert.equal(allows(role, required), expected);
    });
  }
});
