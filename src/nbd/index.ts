/**
 * nbd/: the Network Block Device protocol, so that hosts (qemu, the kernel, libnbd tools)
 * and other nodes can read and write Rebound volumes. The server speaks fixed-newstyle
 * NBD with structured replies, block status (`base:allocation` and
 * `qemu:dirty-bitmap:NAME` for update bitmaps) and STARTTLS (PSK or x509). The client
 * (client/) is a BlockDevice on another server's export: the target of a remote copy,
 * an external volume.
 *
 * Layout: pure codecs (constants, frame reader, handshake and transmission codecs, both
 * directions) shared by server and client; the negotiator and transmission session
 * (protocol logic, no sockets); the connection and server (sockets, TLS); client/. The
 * node supplies exports through ExportProvider and never sees the wire.
 */
export {
  connectNbd,
  type DirtyExtent,
  NbdClientDevice,
  type NbdClientOptions,
  type NbdClientTlsOptions,
  type NbdExportInfo,
  type NbdPskCredentials,
  type NbdReconnectPolicy,
  type NbdX509Credentials,
} from './client/index.js';
export type { NbdSessionInfo } from './connection.js';
export * from './constants.js';
export type { ExportProvider, NbdExport, NbdPeer } from './export.js';
export { FrameReader } from './frame-reader.js';
export * from './handshake-codec.js';
export { type NbdLogger, silentLogger } from './logger.js';
export { availableContexts, listContexts, type SelectedContext, selectContexts } from './meta-context.js';
export type { TlsMode } from './negotiator.js';
export { NbdProtocolError } from './protocol-error.js';
export { NbdServer, type NbdServerOptions } from './server.js';
export { type NbdTlsOptions, parsePskFile } from './tls.js';
export * from './transmission-codec.js';
export { type RequestFault, type RequestLimits, validateRequest } from './validate.js';
