/**
 * The client's half of NBD_OPT_STARTTLS: credentials into node:tls options (read once
 * per connect, since pskCallback is synchronous), and the upgrade of the plain socket
 * after the server's ACK.
 *
 * PSK keys go through the server's parsePskFile, so the client accepts exactly the
 * keys.psk format (psktool, qemu's tls-creds-psk) the server does. PSK suites are off by
 * default in Node; TLS 1.2 fails with "no shared cipher" unless they are listed.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { ReboundError } from '../../errors.js';
import { NBD_TLS_CIPHERS, parsePskFile } from '../tls.js';
import type { NbdClientTlsOptions } from './options.js';

/** tls.connect options (without the socket) for these credentials; `host` is what we dialled. */
export async function loadTlsClientOptions(
  credentials: NbdClientTlsOptions,
  host: string | undefined,
): Promise<tls.ConnectionOptions> {
  if ('psk' in credentials) {
    const { identity, key, pskFile } = credentials.psk;
    if ((key === undefined) === (pskFile === undefined)) {
      throw new ReboundError('INVALID_ARGUMENT', 'PSK credentials need exactly one of key and pskFile', {
        detail: { field: 'tls.psk' },
      });
    }
    const text =
      pskFile !== undefined
        ? await readFile(pskFile, 'utf8')
        : `${identity}:${typeof key === 'string' ? key : key!.toString('hex')}\n`;
    const psk = parsePskFile(text).get(identity);
    if (psk === undefined) {
      throw new ReboundError('INVALID_ARGUMENT', `PSK file ${pskFile} has no key for identity ${identity}`, {
        detail: { field: 'tls.psk.identity' },
      });
    }
    return {
      minVersion: 'TLSv1.2',
      ciphers: NBD_TLS_CIPHERS,
      pskCallback: () => ({ identity, psk }),
      // A PSK handshake has no certificate to check: the key is the authentication.
      checkServerIdentity: () => undefined,
    };
  }
  const { ca, cert, key, serverName } = credentials.x509;
  if ((cert === undefined) !== (key === undefined)) {
    throw new ReboundError('INVALID_ARGUMENT', 'an x509 client certificate needs its key (and back)', {
      detail: { field: 'tls.x509' },
    });
  }
  const name = serverName ?? host ?? 'localhost';
  const out: tls.ConnectionOptions = {
    minVersion: 'TLSv1.2',
    ciphers: NBD_TLS_CIPHERS,
    ca,
    rejectUnauthorized: true,
    checkServerIdentity: (_host, peer) => tls.checkServerIdentity(name, peer),
  };
  // SNI may not carry an IP address (RFC 6066); the identity check above still runs.
  if (!net.isIP(name)) out.servername = name;
  if (cert !== undefined) {
    out.cert = cert;
    out.key = key;
  }
  return out;
}

/** Run the TLS handshake over `socket`; rejects with NBD_TLS_FAILED and the reason. */
export function upgradeToTls(socket: net.Socket, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ ...options, socket });
    const onError = (err: Error): void => {
      secure.destroy();
      // OpenSSL's `reason` ("sslv3 alert illegal parameter") reads better than its whole line.
      const why = (err as { reason?: string }).reason ?? err.message.trim();
      reject(
        new ReboundError(
          'NBD_TLS_FAILED',
          `TLS handshake with the NBD server failed: ${why} (a wrong key or an untrusted certificate?)`,
          {
            cause: err,
          },
        ),
      );
    };
    const onClose = (): void =>
      onError(new Error('the server closed the connection during the TLS handshake'));
    secure.once('error', onError);
    secure.once('close', onClose);
    secure.once('secureConnect', () => {
      secure.removeListener('error', onError);
      secure.removeListener('close', onClose);
      resolve(secure);
    });
  });
}
