/**
 * Who may do what. Users have a role (admin > operator > viewer); a request carries an
 * API token (random, 32 bytes, shown once, stored as its SHA-256). Passwords are hashed
 * with scrypt (node:crypto), the salt and cost parameters stored with the hash so they
 * can be raised later without breaking old hashes:
 *
 *   scrypt$<N>$<r>$<p>$<salt, base64url>$<hash, base64url>
 *
 * A random token has 256 bits of entropy, so a fast hash is enough for it; a password
 * needs the slow KDF.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { Role } from './db/types.js';

export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

/** What a route asks for: a role, or 'public' (no token at all), or 'signed-in' (any role). */
export type Access = Role | 'public' | 'signed-in';

/** Does `role` reach `required`? admin > operator > viewer. */
export function allows(role: Role, required: Access): boolean {
  if (required === 'public' || required === 'signed-in') return true;
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}

const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keyLen: 32 };

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number, len: number) {
  return new Promise<Buffer>((resolve, reject) =>
    scrypt(password, salt, len, { N, r, p, maxmem: 256 * N * r }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keyLen);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  );
}

/** Constant-time check against a stored hash; false for anything malformed. */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parts = (stored ?? '').split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') {
    // Spend the same time as a real check, so a missing user is not told apart by timing.
    await scryptAsync(password, Buffer.alloc(16), SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keyLen);
    return false;
  }
  const [, n, r, p, salt, hash] = parts;
  const expected = Buffer.from(hash, 'base64url');
  const got = await scryptAsync(
    password,
    Buffer.from(salt, 'base64url'),
    Number(n),
    Number(r),
    Number(p),
    expected.length,
  );
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** A new API token: `rbt_` + 43 base64url characters. Shown once, never stored. */
export function newApiToken(): string {
  return `rbt_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Short public ID of a token record (for listing and revoking). */
export function newTokenId(): string {
  return randomBytes(6).toString('hex');
}
