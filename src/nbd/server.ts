/**
 * The NBD server: a TCP listener that hands each accepted socket to an NbdConnection.
 *
 *   const server = new NbdServer({ provider, tls: { mode: 'require', psk: { pskFile } } });
 *   const { port } = await server.listen(10809, '0.0.0.0');
 *   ...
 *   await server.close();   // stops listening and drops every connection
 *
 * Fixed newstyle only. Exports come from the ExportProvider at GO/INFO/EXPORT_NAME time.
 *
 * PSK keys can be added and removed while the server runs (addPsk, removePsk): a node's
 * manager-installed pair keys. While any is present, a server configured with TLS off
 * offers STARTTLS too (as 'optional': plaintext clients go on as before), so those keys
 * work with no TLS configuration at all.
 */
import net, { type AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { NbdConnection, type NbdSessionInfo } from './connection.js';
import type { ExportProvider } from './export.js';
import { type NbdLogger, silentLogger } from './logger.js';
import { ReplyBuffers } from './reply-buffers.js';
import { loadTlsServerOptions, type NbdTlsOptions } from './tls.js';

export interface NbdServerOptions {
  provider: ExportProvider;
  /** Default: no TLS. */
  tls?: NbdTlsOptions;
  /** Any pino-like logger; default silent. */
  logger?: NbdLogger;
  /** Time a client gets from connect to the end of option haggling (default 30 s). */
  handshakeTimeoutMs?: number;
  /** Requests in flight per connection before we stop reading (default 256). */
  maxInFlight?: number;
  /** Queued reply bytes per connection before we stop reading (default 64 MiB). */
  maxQueuedReplyBytes?: number;
  /** Told when a connection enters transmission (export and TLS identity known). */
  onTransmission?(info: NbdSessionInfo): void;
}

export class NbdServer {
  private readonly server: net.Server;
  private readonly connections = new Set<NbdConnection>();
  /** READ replies' data, used again once written (reply-buffers.ts). */
  private readonly replyBuffers = new ReplyBuffers();
  private readonly logger: NbdLogger;
  private tlsOptions: tls.TlsOptions | undefined;
  /** Keys of the configured PSK file, then the ones added at run time. */
  private fileKeys = new Map<string, Buffer>();
  private readonly addedKeys = new Map<string, Buffer>();
  private nextId = 1;

  constructor(private readonly options: NbdServerOptions) {
    this.logger = options.logger ?? silentLogger;
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => this.logger.error({ err }, 'NBD listener error'));
  }

  /** Open connections (handshake or transmission). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Accept `identity` with `key` from the next TLS handshake on (replaces a key of that identity). */
  addPsk(identity: string, key: Buffer): void {
    this.addedKeys.set(identity, Buffer.from(key));
  }

  /** Stop accepting a key added with addPsk (connections already up stay up). */
  removePsk(identity: string): void {
    this.addedKeys.delete(identity);
  }

  /** Close every connection `drop` picks (say, the other users of an export kept for one client). */
  dropConnections(drop: (info: NbdSessionInfo) => boolean, reason: string): number {
    let n = 0;
    for (const conn of this.connections) {
      if (!drop(conn.info)) continue;
      conn.abort(reason);
      n++;
    }
    return n;
  }

  /** Load TLS credentials, then listen. Port 0 picks a free port; the address says which. */
  async listen(port: number, host: string): Promise<AddressInfo> {
    const tlsConfig = this.options.tls ?? { mode: 'off' as const };
    const setup = await loadTlsServerOptions(tlsConfig);
    this.tlsOptions = setup.options;
    this.fileKeys = setup.pskKeys;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', onError);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    this.logger.info(
      { address: address.address, port: address.port, tls: tlsConfig.mode },
      'NBD server listening',
    );
    return address;
  }

  /** Stop listening and drop every connection (their exports are released). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
    for (const conn of this.connections) conn.abort('server closing');
    await closed;
  }

  private accept(socket: net.Socket): void {
    const mode = this.options.tls?.mode ?? 'off';
    const conn = new NbdConnection(socket, {
      id: this.nextId++,
      provider: this.options.provider,
      tlsMode: mode === 'off' && this.addedKeys.size > 0 ? 'optional' : mode,
      tlsOptions: this.tlsOptions,
      pskLookup: (identity) => this.fileKeys.get(identity) ?? this.addedKeys.get(identity) ?? null,
      logger: this.logger,
      handshakeTimeoutMs: this.options.handshakeTimeoutMs ?? 30_000,
      maxInFlight: this.options.maxInFlight ?? 256,
      maxQueuedReplyBytes: this.options.maxQueuedReplyBytes ?? 64 * 1024 * 1024,
      replyBuffers: this.replyBuffers,
      onClose: (c) => this.connections.delete(c),
      ...(this.options.onTransmission && { onTransmission: this.options.onTransmission }),
    });
    this.connections.add(conn);
    conn.start();
  }
}
