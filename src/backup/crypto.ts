/**
 * Client-side encryption and block checksums of backups.
 *
 * A store's encryption key (32 bytes, kept by the node, never written to the bucket) is
 * expanded with HKDF-SHA256 into three independent values:
 *   data key      AES-256-GCM key for blocks and metadata
 *   checksum key  HMAC-SHA256 key for per-block checksums of encrypted backups (a plain
 *                 SHA-256 of the plaintext would let anyone with the bucket test guesses)
 *   key ID        16 hex digits in every catalog, so a wrong key is reported as such
 *                 instead of as corruption
 *
 * A sealed buffer is nonce (12 random bytes) || ciphertext || tag (16 bytes); the
 * additional data binds it to its place (a block's address, a metadata key), so moving
 * sealed bytes elsewhere fails authentication. Random nonces: at most 2^32 seals per key
 * keep the collision risk negligible (NIST SP 800-38D); that is 256 TiB of 64 KiB blocks.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hash,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import { ReboundError } from '../errors.js';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;
export const CHECKSUM_BYTES = 32;

export interface BackupKeys {
  keyId: string;
  dataKey: Buffer;
  checksumKey: Buffer;
}

function derive(key: Buffer, info: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', key, 'rebound-backup-v1', info, length));
}

/** Expand a store key; throws INVALID_ARGUMENT unless it is 32 bytes. */
export function deriveKeys(key: Buffer): BackupKeys {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw new ReboundError('INVALID_ARGUMENT', `an encryption key must be ${KEY_BYTES} bytes`, {
      detail: { field: 'encryptionKey' },
    });
  }
  return {
    keyId: derive(key, 'key-id', 8).toString('hex'),
    dataKey: derive(key, 'data', 32),
    checksumKey: derive(key, 'checksum', 32),
  };
}

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  const body = c.update(plaintext);
  const fin = c.final();
  return Buffer.concat([nonce, body, fin, c.getAuthTag()]);
}

/** Open a sealed buffer; undefined when it fails authentication (damage or wrong key). */
export function open(key: Buffer, sealed: Buffer, aad: Buffer): Buffer | undefined {
  if (sealed.length < SEAL_OVERHEAD) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES));
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const body = d.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
    return Buffer.concat([body, d.final()]);
  } catch {
    return undefined;
  }
}

/** A block's checksum: SHA-256 of the plaintext, or HMAC-SHA256 under the checksum key. */
export function blockChecksum(keys: BackupKeys | undefined, plaintext: Buffer): Buffer {
  return keys
    ? createHmac('sha256', keys.checksumKey).update(plaintext).digest()
    : hash('sha256', plaintext, 'buffer'); // one-shot: no Hash object per block
}

export function sha256(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}
