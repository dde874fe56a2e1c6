/**
 * The superblock: the file `superblock` in the pool directory says "this is a Rebound
 * pool", with its block size, the node's serial number and the drive list. It is
 * written once, last, at `init` (so a half-initialised directory has none) and never
 * changes afterwards. Byte layout: docs/formats/pool.md, "Superblock".
 */
import { ReboundError } from '../errors.js';
import { ByteReader, ByteWriter } from './codec.js';
import { crc32c } from './crc32c.js';

export const SUPERBLOCK_MAGIC = 0x5242504c; // "RBPL"
export const SUPERBLOCK_VERSION = 1;

export interface DriveSpec {
  /** Path relative to the pool directory (or absolute). */
  path: string;
  sizeBytes: number;
}

export interface Superblock {
  blockSizeBytes: number;
  serial: string;
  poolName: string;
  createdAt: string;
  drives: DriveSpec[];
}

export function encodeSuperblock(sb: Superblock): Buffer {
  const w = new ByteWriter(256);
  w.u32(SUPERBLOCK_MAGIC).u16(SUPERBLOCK_VERSION).u16(0);
  w.u32(sb.blockSizeBytes).str(sb.serial).str(sb.poolName).str(sb.createdAt);
  w.u32(sb.drives.length);
  for (const d of sb.drives) w.u64(d.sizeBytes).str(d.path);
  const body = w.finish();
  const out = Buffer.allocUnsafe(body.length + 4);
  body.copy(out);
  out.writeUInt32BE(crc32c(body), body.length);
  return out;
}

export function decodeSuperblock(buf: Buffer): Superblock {
  if (buf.length < 12 || buf.readUInt32BE(0) !== SUPERBLOCK_MAGIC) {
    throw new ReboundError('POOL_CORRUPT', 'superblock: bad magic');
  }
  const crc = buf.readUInt32BE(buf.length - 4);
  if (crc32c(buf, 0, buf.length - 4) !== crc)
    throw new ReboundError('POOL_CORRUPT', 'superblock: bad checksum');
  const r = new ByteReader(buf.subarray(0, buf.length - 4));
  r.u32();
  const version = r.u16();
  if (version !== SUPERBLOCK_VERSION)
    throw new ReboundError('POOL_CORRUPT', `superblock: version ${version} unknown`);
  r.u16();
  const blockSizeBytes = r.u32();
  const serial = r.str();
  const poolName = r.str();
  const createdAt = r.str();
  const n = r.u32();
  const drives: DriveSpec[] = [];
  for (let i = 0; i < n; i++) {
    const sizeBytes = r.u64();
    drives.push({ sizeBytes, path: r.str() });
  }
  return { blockSizeBytes, serial, poolName, createdAt, drives };
}
