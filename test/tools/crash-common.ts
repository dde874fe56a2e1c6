/**
 * Shared by the crash loop and its worker: the layout of the test storage and the
 * self-describing contents of each 4 KiB region, so a read can tell which write (if
 * any) it holds and whether it belongs to this volume and this place at all.
 *
 *   region bytes 0..15: magic u32 "RCRT" | volume u32 | region u32 | version u32
 *   bytes 16..4095:     (version * 7 + i * 13 + region) & 0xff
 */
export const REGION_BYTES = 4096;
export const VOLUME_BYTES = 32 * 1024 * 1024;
export const REGIONS = VOLUME_BYTES / REGION_BYTES;
export const VOLUMES = ['a', 'b'] as const;
export const BLOCK_BYTES = 65536;
/** Two volumes and a snapshot of each, every block rewritten: 128 MiB, and room for the quarantine. */
export const POOL_BYTES = 160 * 1024 * 1024;
const MAGIC = 0x52435254;

export function regionData(volume: number, region: number, version: number): Buffer {
  const b = Buffer.allocUnsafe(REGION_BYTES);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt32BE(volume, 4);
  b.writeUInt32BE(region, 8);
  b.writeUInt32BE(version, 12);
  for (let i = 16; i < REGION_BYTES; i++) b[i] = (version * 7 + i * 13 + region) & 0xff;
  return b;
}

/** The version a region holds (0 for zeros), or an explanation of why it is garbage. */
export function decodeRegion(buf: Buffer, volume: number, region: number): number | string {
  if (buf.every((x) => x === 0)) return 0;
  if (buf.readUInt32BE(0) !== MAGIC) return 'not zeros and not written by this test (stale or foreign data)';
  const v = buf.readUInt32BE(4);
  const r = buf.readUInt32BE(8);
  const version = buf.readUInt32BE(12);
  if (v !== volume || r !== region) return `holds data written to volume ${v} region ${r}`;
  if (!regionData(volume, region, version).equals(buf)) return `version ${version} torn or damaged`;
  return version;
}

/** Messages from the worker to the loop (over IPC). */
export type WorkerMessage =
  | { kind: 'ready' }
  /** Sent, and acknowledged by the channel, before any of these ops is issued. */
  | { kind: 'issue'; ops: IssuedOp[] }
  | { kind: 'durable'; ids: number[] }
  | { kind: 'error'; message: string };

export interface IssuedOp {
  id: number;
  volume: number;
  /** Regions and the version each will hold (0 = zeros). */
  regions: { region: number; version: number }[];
  what: 'write' | 'fua-write' | 'trim' | 'zero';
}
