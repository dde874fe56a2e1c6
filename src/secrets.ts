/**
 * Secrets at rest (DESIGN.md, "Promises": secrets are stored encrypted, never logged,
 * never returned by the API). A SecretBox seals strings with AES-256-GCM under a master
 * key that lives beside the data (a 0600 key file) or comes from the environment
 * (REBOUND_SECRET_KEY, 64 hex digits), so a copied config file alone reveals nothing.
 *
 * Sealed form: "v1:" + base64url(12-byte nonce | ciphertext | 16-byte tag).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { ReboundError } from './errors.js';

const PREFIX = 'v1:';

export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /**
   * The master key from REBOUND_SECRET_KEY, else from `keyFile`, created (random, mode
   * 0600) when missing.
   */
  static async open(keyFile: string, env = process.env.REBOUND_SECRET_KEY): Promise<SecretBox> {
    if (env) return new SecretBox(parseKey(env, 'REBOUND_SECRET_KEY'));
    try {
      return new SecretBox(parseKey((await readFile(keyFile, 'utf8')).trim(), keyFile));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const key = randomBytes(32);
      await writeFile(keyFile, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
      return new SecretBox(key);
    }
  }

  seal(plain: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64url');
  }

  /**
   * A key for `purpose`, the same every time (HKDF-SHA256 from the master key): what the
   * manager hands out per job (a pair's TLS key) without storing it anywhere, so a step
   * run again after a restart gets the same key. Distinct purposes give unrelated keys.
   */
  derive(purpose: string, bytes = 32): Buffer {
    return Buffer.from(hkdfSync('sha256', this.key, Buffer.alloc(0), `rebound:${purpose}`, bytes));
  }

  open(sealed: string): string {
    if (!sealed.startsWith(PREFIX)) throw new ReboundError('INVALID_ARGUMENT', 'not a sealed secret');
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64url');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString(
        'utf8',
      );
    } catch (err) {
      throw new ReboundError('UNAUTHORIZED', 'a stored secret does not open with this master key', {
        cause: err,
      });
    }
  }
}

function parseKey(hex: string, where: string): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new ReboundError('INVALID_ARGUMENT', `${where}: the master key must be 64 hex digits (32 bytes)`);
  }
  return Buffer.from(hex, 'hex');
}
