/**
 * nbd/client/: the NBD client, which is a BlockDevice. Fixed newstyle with STARTTLS (PSK
 * or x509), structured replies, metadata contexts (`base:allocation`,
 * `qemu:dirty-bitmap:NAME`), many requests in flight matched by cookie, and reconnects
 * that re-send what the server may have lost. It reuses the pure codecs of nbd/.
 *
 * Files, one job each: options (what a caller asks), tls (credentials, upgrade),
 * frame-source + handshake (option haggling), transport (dial + handshake), request
 * (one request's reply assembly), reply-reader (simple READ data on the wire),
 * connection (one socket), unflushed (writes kept for replay), session (scheduling,
 * reconnect, replay), range-lock and device (the BlockDevice contract).
 */
export { connectNbd, type DirtyExtent, NbdClientDevice, type NbdExportInfo } from './device.js';
export type {
  NbdClientOptions,
  NbdClientTlsOptions,
  NbdPskCredentials,
  NbdReconnectPolicy,
  NbdX509Credentials,
} from './options.js';
