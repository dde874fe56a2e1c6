/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table driven, slice-by-4.
 * Every pool metadata header and record carries one (docs/formats/pool.md). Node 20
 * has no zlib.crc32, and CRC-32C is what iSCSI, ext4 and btrfs use for metadata.
 */

const TABLES: Uint32Array[] = [];
{
  const t0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t0[i] = c >>> 0;
  }
  TABLES.push(t0);
  for (let t = 1; t < 4; t++) {
    const prev = TABLES[t - 1];
    const next = new Uint32Array(256);
    for (let i = 0; i < 256; i++) next[i] = ((prev[i] >>> 8) ^ t0[prev[i] & 0xff]) >>> 0;
    TABLES.push(next);
  }
}
const [T0, T1, T2, T3] = TABLES;

/** CRC-32C of `buf[start, end)`, continuing from `crc` (0 to start). */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length, crc = 0): number {
  let c = ~crc >>> 0;
  let i = start;
  while (end - i >= 4) {
    c ^= buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    c = T3[c & 0xff] ^ T2[(c >>> 8) & 0xff] ^ T1[(c >>> 16) & 0xff] ^ T0[c >>> 24];
    i += 4;
  }
  while (i < end) c = T0[(c ^ buf[i++]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
