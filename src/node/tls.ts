/**
 * The node's NBD TLS settings (paths in node.json) turned into the NBD server's options
 * (PEM text, a PSK file path). Between sites NBD runs over TLS (DESIGN.md, "Promises").
 */
import { readFile } from 'node:fs/promises';
import { ReboundError } from '../errors.js';
import type { NbdTlsOptions } from '../nbd/index.js';
import type { NodeTlsConfig } from './config.js';

export async function nbdTlsOptions(config: NodeTlsConfig): Promise<NbdTlsOptions> {
  if (config.mode === 'off') return { mode: 'off' };
  const out: NbdTlsOptions = { mode: config.mode };
  if (config.pskFile) out.psk = { pskFile: config.pskFile };
  if (config.certFile || config.keyFile) {
    if (!config.certFile || !config.keyFile) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        'x509 TLS needs both a certificate (--tls-cert) and a key (--tls-key)',
      );
    }
    out.x509 = {
      cert: await readFile(config.certFile, 'utf8'),
      key: await readFile(config.keyFile, 'utf8'),
      ...(config.caFile && { ca: await readFile(config.caFile, 'utf8') }),
      requireClientCert: config.requireClientCert ?? false,
    };
  }
  if (!out.psk && !out.x509) {
    throw new ReboundError(
      'INVALID_ARGUMENT',
      `NBD TLS mode "${config.mode}" needs --tls-psk-file or --tls-cert/--tls-key`,
    );
  }
  return out;
}
