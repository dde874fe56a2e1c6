/**
 * TLS credentials for NBD_OPT_STARTTLS: PSK (the `keys.psk` file psktool writes and
 * qemu's tls-creds-psk reads as DIR/keys.psk) and x509 (PEM texts).
 *
 * Node calls pskCallback synchronously (an OpenSSL limit), so PSK keys are read into
 * memory once, when the server starts listening (and keys added at run time live there too). PSK cipher suites are off by default in
 * Node and TLS 1.2 fails with "no shared cipher" unless they are listed: we list them (NBD_TLS_CIPHERS).
 */
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { ReboundError } from '../errors.js';
import type { TlsMode } from './negotiator.js';

/**
 * The cipher list of both ends: Node's defaults with the TLS 1.3 AES-GCM suites first,
 * plus the PSK suites Node omits.
 * - A TLS 1.3 PSK from pskCallback is tied to SHA-256, so TLS_AES_256_GCM_SHA384 is out
 *   and Node's default order then picks ChaCha20-Poly1305; with AES-NI, AES-128-GCM costs
 *   about a third less CPU per 4 KiB record (both nodes encrypt every block a failback moves).
 * - The defaults end with "!PSK", which removes PSK suites for good: listed after it,
 *   they stayed out and a TLS 1.2 PSK client got "no shared cipher". So it goes.
 */
export const NBD_TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_AES_128_GCM_SHA256',
  'TLS_CHACHA20_POLY1305_SHA256',
  ...tls.DEFAULT_CIPHERS.split(':').filter((c) => !c.startsWith('TLS_') && c !== '!PSK'),
  'ECDHE-PSK',
  'DHE-PSK',
  'PSK',
].join(':');

export interface NbdTlsOptions {
  /** off: no STARTTLS. optional: STARTTLS offered, plaintext allowed. require: FORCEDTLS. */
  mode: TlsMode;
  /** Pre-shared keys: a file of `identity:hexkey` lines (`psktool -u alice -p keys.psk`). */
  psk?: { pskFile: string };
  /** Certificates as PEM text (read the files yourself). `ca` verifies client certificates. */
  x509?: { cert: string; key: string; ca?: string; requireClientCert?: boolean };
}

/** RFC 4279 limits, as GnuTLS enforces them. */
const MAX_IDENTITY_BYTES = 128;
const MAX_KEY_BYTES = 64;

/** Parse a keys.psk file: one `identity:hexkey` per line, blank lines and `#` comments ignored. */
export function parsePskFile(text: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.lastIndexOf(':');
    const identity = line.slice(0, colon);
    const hex = line.slice(colon + 1);
    if (colon <= 0 || !/^(?:[0-9a-fA-F]{2})+$/.test(hex)) {
      throw new ReboundError('INVALID_ARGUMENT', `PSK file line ${i + 1} is not identity:hexkey`);
    }
    const key = Buffer.from(hex, 'hex');
    if (Buffer.byteLength(identity) > MAX_IDENTITY_BYTES || key.length > MAX_KEY_BYTES) {
      throw new ReboundError('INVALID_ARGUMENT', `PSK file line ${i + 1}: identity or key too long`);
    }
    keys.set(identity, key);
  });
  if (keys.size === 0) throw new ReboundError('INVALID_ARGUMENT', 'PSK file holds no key');
  return keys;
}

/** The TLS settings a server builds once: the context options, and the PSK file's keys. */
export interface TlsServerSetup {
  /** tls.createServer options without pskCallback: each connection adds its own, to learn the identity. */
  options: tls.TlsOptions;
  /** The keys of the PSK file (empty without one). */
  pskKeys: Map<string, Buffer>;
}

/**
 * Build the tls.createServer options once; each STARTTLS makes a server from them. Mode
 * off still gets options (no credentials, PSK suites listed): keys added at run time
 * (NbdServer.addPsk) make STARTTLS available on a server configured without TLS.
 */
export async function loadTlsServerOptions(options: NbdTlsOptions): Promise<TlsServerSetup> {
  const out: tls.TlsOptions = {
    minVersion: 'TLSv1.2',
    ciphers: NBD_TLS_CIPHERS,
    // Our order, not the client's: a client listing ChaCha20 first still gets AES-GCM.
    honorCipherOrder: true,
  };
  const pskKeys = new Map<string, Buffer>();
  if (options.mode === 'off') return { options: out, pskKeys };
  if (!options.psk && !options.x509) {
    throw new ReboundError('INVALID_ARGUMENT', `TLS mode ${options.mode} needs PSK or x509 credentials`);
  }
  if (options.psk) {
    for (const [identity, key] of parsePskFile(await readFile(options.psk.pskFile, 'utf8')))
      pskKeys.set(identity, key);
  }
  if (options.x509) {
    out.cert = options.x509.cert;
    out.key = options.x509.key;
    if (options.x509.ca) out.ca = options.x509.ca;
    out.requestCert = options.x509.requireClientCert ?? false;
    out.rejectUnauthorized = options.x509.requireClientCert ?? false;
  }
  // Fail now, not at the first STARTTLS, if the credentials are unusable.
  tls.createSecureContext(out);
  return { options: out, pskKeys };
}
