/**
 * Dial the server (TCP or a unix socket) and run the handshake, within one time limit.
 * Used for the first connection and for every reconnect, so both fail the same way:
 * NBD_DISCONNECTED when the server cannot be reached or hangs, the handshake's own
 * errors otherwise.
 */
import net from 'node:net';
import type tls from 'node:tls';
import { ReboundError } from '../../errors.js';
import { type HandshakeResult, negotiate } from './handshake.js';
import { describeEndpoint, type ResolvedClientOptions } from './options.js';

export async function openTransport(
  options: ResolvedClientOptions,
  tlsOptions: tls.ConnectionOptions | undefined,
): Promise<HandshakeResult> {
  const where = describeEndpoint(options.endpoint);
  const socket = await dial(options.endpoint, where, options.connectTimeoutMs);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    socket.destroy();
  }, options.connectTimeoutMs);
  timer.unref();
  try {
    return await negotiate(socket, {
      exportName: options.exportName,
      tls: tlsOptions,
      tlsRequired: options.tlsRequired,
      metaContexts: options.metaContexts,
    });
  } catch (err) {
    if (timedOut) {
      throw new ReboundError(
        'NBD_DISCONNECTED',
        `the NBD handshake with ${where} did not finish within ${options.connectTimeoutMs} ms`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function dial(
  endpoint: ResolvedClientOptions['endpoint'],
  where: string,
  timeoutMs: number,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = 'path' in endpoint ? net.connect({ path: endpoint.path }) : net.connect(endpoint);
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        new ReboundError('NBD_DISCONNECTED', `cannot connect to the NBD server at ${where}: ${err.message}`, {
          cause: err,
        }),
      );
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', fail);
      // The spec says SHOULD; without it small requests wait for delayed ACKs (reference/nbd.md 3).
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
