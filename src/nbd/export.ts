/**
 * What the node gives the NBD server: a provider of named exports. The server never
 * knows about pools or volumes; it asks the provider at GO/INFO/EXPORT_NAME time and
 * holds the returned export for the life of the connection.
 */
import type { BlockSet } from '../block/block-set.js';
import type { BlockDevice } from '../block/device.js';

export interface NbdExport {
  name: string;
  description?: string;
  /** `device.readOnly` makes the export read-only (NBD_FLAG_READ_ONLY; writes fail with EPERM). */
  device: BlockDevice;
  /** Bitmaps offered as `qemu:dirty-bitmap:NAME`, with granularity `device.blockSizeBytes`. */
  bitmapNames(): string[];
  /** The current bits of a bitmap, read at each BLOCK_STATUS; undefined once it is gone. */
  bitmap(name: string): BlockSet | undefined;
  /** Called once when the connection that opened this export closes (or at once after NBD_OPT_INFO). */
  release?(): void;
}

/** Who is asking for an export: whether the connection is inside TLS, and with which PSK identity. */
export interface NbdPeer {
  tls: boolean;
  /** The PSK identity the TLS handshake authenticated; null for plaintext or x509. */
  pskIdentity: string | null;
}

export interface ExportProvider {
  list(): { name: string; description?: string }[];
  /**
   * Returns undefined for an unknown export; may throw a ReboundError (e.g. VOLUME_FENCED)
   * to refuse, whose message the client sees (NBD_REP_ERR_POLICY). `peer` lets a provider
   * keep an export for one authenticated client (absent: treat as plaintext).
   */
  open(name: string, peer?: NbdPeer): NbdExport | undefined;
}
