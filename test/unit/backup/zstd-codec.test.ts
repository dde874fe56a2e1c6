/**
 * The zstd block codec (flag ZSTD, codec byte 4): round trips plain and sealed, frames
 * decoded in place into a shared output, and damage caught either by zstd itself or,
 * when the damaged frame still decodes, by the block's checksum. Old codecs stay
 * readable beside it.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { CodecPool, sharedBuffer } from '../../../src/backup/codec-pool.js';
import { deriveKeys } from '../../../src/backup/crypto.js';
import {
  BLOCK_COMPRESSED,
  BLOCK_DEFLATED,
  BLOCK_ZERO,
  BLOCK_ZSTD,
  DEFAULT_COMPRESSION,
  decodeBlock,
  decodeMetadata,
  encodeBlockSync,
  encodeMetadata,
  type Metadata,
  NO_OBJECT,
} from '../../../src/backup/format.js';
import { zstdCompressScratch, zstdDecompressInto } from '../../../src/backup/zstd.js';
import { BlockSet } from '../../../src/block/block-set.js';
import { ReboundError } from '../../../src/errors.js';

const BS = 65536;
const UID = '0A1B2C3D:7';
const opts = { blockSizeBytes: BS, uniqueId: UID, where: 'volumes/x/data/3' };

/** Text-like bytes: words from a small list in a pseudo-random order. */
function text(n: number, seed = 1): Buffer {
  const words = ['rebound ', 'block ', 'backup ', 'restore ', 'volume ', 'the ', 'of ', 'zstd ', 'frame '];
  const b = Buffer.alloc(n);
  let x = seed;
  for (let at = 0; at < n; ) {
    x = (x * 1103515245 + 12345) >>> 0;
    at += b.write(words[(x >>> 16) % words.length], at);
  }
  return b;
}

function corrupt(why: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ReboundError, String(err));
    assert.equal(err.code, 'BACKUP_OBJECT_CORRUPT');
    assert.ok(err.message.includes('volumes/x/data/3'), err.message);
    assert.match(err.message, why);
    return true;
  };
}

describe('zstd block codec', () => {
  const pools: CodecPool[] = [];
  after(async () => {
    for (const p of pools) await p.close();
  });

  it('is the default and round-trips text, random, zero and mostly-zero blocks, plain and sealed', () => {
    assert.equal(DEFAULT_COMPRESSION, 'zstd');
    const mostlyZero = Buffer.alloc(BS);
    randomBytes(4096).copy(mostlyZero, 20000);
    for (const keys of [undefined, deriveKeys(randomBytes(32))]) {
      const cases: [Buffer, number][] = [
        [text(BS), BLOCK_ZSTD],
        [randomBytes(BS), 0],
        [Buffer.alloc(BS), BLOCK_ZERO],
        [mostlyZero, BLOCK_ZSTD],
      ];
      for (const [i, [plain, flags]] of cases.entries()) {
        const e = encodeBlockSync(plain, 100 + i, { compression: 'zstd', keys, uniqueId: UID });
        assert.equal(e.flags, flags, `case ${i}`);
        if (flags === BLOCK_ZSTD && !keys) assert.ok(e.stored.length < BS / 2, `case ${i} compressed`);
        const got = decodeBlock(e.stored, e.flags, e.checksum, { ...opts, keys, block: 100 + i });
        assert.deepEqual(got, plain, `case ${i}`);
      }
    }
  });

  it('stores less than brotli q0 on text, and each payload stands alone (its own frame)', () => {
    const blocks = [1, 2, 3].map((s) => text(BS, s));
    const size = (c: 'zstd' | 'brotli') =>
      blocks.reduce(
        (n, b, i) => n + encodeBlockSync(b, i, { compression: c, uniqueId: UID }).stored.length,
        0,
      );
    assert.ok(size('zstd') < size('brotli'), `zstd ${size('zstd')} vs brotli ${size('brotli')}`);
    // The scratch buffer is reused: a kept payload must not change when the next is made.
    const a = encodeBlockSync(blocks[0], 0, { compression: 'zstd', uniqueId: UID });
    const copy = Buffer.from(a.stored);
    encodeBlockSync(blocks[1], 1, { compression: 'zstd', uniqueId: UID });
    assert.deepEqual(a.stored, copy);
  });

  it('catches a damaged frame: by zstd when it no longer decodes, by the checksum when it does', () => {
    const plain = text(BS);
    const e = encodeBlockSync(plain, 7, { compression: 'zstd', uniqueId: UID });
    let byZstd = 0;
    let byChecksum = 0;
    // Flip one bit at each position in turn: every variant is rejected, or (a bit zstd
    // does not use, as in its frame header) decodes to exactly the block; never other bytes.
    for (let at = 0; at < e.stored.length; at += 7) {
      const bad = Buffer.from(e.stored);
      bad[at] ^= 0x10;
      let got: Buffer | undefined;
      try {
        got = decodeBlock(bad, e.flags, e.checksum, { ...opts, block: 7 });
      } catch (err) {
        corrupt(/does not decompress|fails its checksum|is \d+ bytes/)(err);
        if ((err as Error).message.includes('fails its checksum')) byChecksum++;
        else byZstd++;
      }
      if (got) assert.deepEqual(got, plain, `bit flipped at ${at}`);
    }
    assert.ok(byChecksum > 0, 'some damaged frames decode to the wrong bytes and the checksum catches them');
    assert.ok(byZstd > 0, 'some damaged frames fail inside zstd');
    // A truncated frame.
    assert.throws(
      () =>
        decodeBlock(e.stored.subarray(0, e.stored.length - 5), e.flags, e.checksum, { ...opts, block: 7 }),
      corrupt(/does not decompress/),
    );
  });

  it('never writes past the block: a frame holding more than a block is corrupt', () => {
    const big = Buffer.from(zstdCompressScratch(text(2 * BS)));
    const into = Buffer.alloc(BS + 16, 0xee);
    assert.throws(() => zstdDecompressInto(into.subarray(0, BS), big));
    assert.equal(into[BS], 0xee, 'the byte after the block is untouched');
    assert.throws(
      () => decodeBlock(big, BLOCK_ZSTD, Buffer.alloc(32), { ...opts, block: 1, into: into.subarray(0, BS) }),
      corrupt(/does not decompress/),
    );
    // A short frame decodes but is not a block.
    const short = Buffer.from(zstdCompressScratch(text(BS - 1)));
    assert.throws(
      () => decodeBlock(short, BLOCK_ZSTD, Buffer.alloc(32), { ...opts, block: 1 }),
      corrupt(/bytes, not/),
    );
  });

  it('rejects unknown flag bits and two codecs on one entry', () => {
    const e = encodeBlockSync(text(BS), 7, { compression: 'zstd', uniqueId: UID });
    for (const flags of [BLOCK_ZSTD | 64, BLOCK_ZSTD | BLOCK_COMPRESSED, BLOCK_ZERO | BLOCK_ZSTD, 128]) {
      assert.throws(
        () => decodeBlock(e.stored, flags, e.checksum, { ...opts, block: 7 }),
        corrupt(/not a known combination/),
      );
    }
  });

  for (const workers of [0, 2]) {
    it(`decodes a mixed chunk (zstd, brotli, deflate, raw, zero) in place into shared memory (${workers} workers)`, async () => {
      const pool = new CodecPool({ workers });
      pools.push(pool);
      const plains = [text(BS, 1), text(BS, 2), text(BS, 3), randomBytes(BS), Buffer.alloc(BS)];
      const codecs = ['zstd', 'brotli', 'deflate', 'zstd', 'zstd'] as const;
      const enc = plains.map((p, i) => encodeBlockSync(p, 50 + i, { compression: codecs[i], uniqueId: UID }));
      assert.deepEqual(
        enc.map((e) => e.flags),
        [BLOCK_ZSTD, BLOCK_COMPRESSED, BLOCK_DEFLATED, 0, BLOCK_ZERO],
      );
      const data = Buffer.concat(enc.map((e) => e.stored));
      const offsets: number[] = [];
      let at = 0;
      for (const e of enc) {
        offsets.push(at);
        at += e.stored.length;
      }
      // Blocks land in reverse order, so each one's place differs from its index.
      const out = sharedBuffer(5 * BS);
      out.fill(0xaa);
      const outOffsets = Float64Array.from(plains.map((_, i) => (4 - i) * BS));
      const job = {
        blockSizeBytes: BS,
        blocks: Float64Array.from(plains.map((_, i) => 50 + i)),
        offsets: Float64Array.from(offsets),
        lengths: Uint32Array.from(enc.map((e) => e.stored.length)),
        flags: Uint8Array.from(enc.map((e) => e.flags)),
        checksums: Uint8Array.from(Buffer.concat(enc.map((e) => e.checksum))),
        uniqueId: UID,
        where: 'volumes/x/data/3',
        out,
        outOffsets,
      };
      const r = await pool.decode(data, job);
      assert.equal(r.plain.length, 0);
      for (let i = 0; i < 5; i++)
        assert.deepEqual(out.subarray((4 - i) * BS, (5 - i) * BS), plains[i], `block ${i}`);
      // Damage the zstd payload so that it still decodes: the job fails, naming the object.
      const e0 = enc[0];
      let still: Buffer | undefined;
      for (let k = e0.stored.length - 1; k > 0 && !still; k--) {
        const bad = Buffer.from(e0.stored);
        bad[k] ^= 0x01;
        try {
          if (zstdDecompressInto(Buffer.alloc(BS), bad) === BS) still = bad;
        } catch {}
      }
      assert.ok(still, 'a one-bit change that zstd still decodes');
      const damaged = Buffer.from(data);
      still.copy(damaged, 0);
      await assert.rejects(pool.decode(damaged, job), corrupt(/block 50 fails its checksum/));
    });
  }

  it('reads metadata of every codec byte, and rejects one it does not know', () => {
    const bitmap = new BlockSet(8);
    bitmap.add(2);
    const base: Metadata = {
      blockSizeBytes: BS,
      bitmap,
      compression: 'zstd',
      keyed: false,
      encrypted: false,
      objects: [],
      segments: [{ object: NO_OBJECT, offset: 0, count: 1 }],
      lengths: Uint32Array.of(0),
      flags: Uint8Array.of(BLOCK_ZERO),
      checksums: Buffer.alloc(32),
    };
    for (const compression of ['none', 'brotli', 'deflate', 'mixed', 'zstd'] as const) {
      assert.equal(
        decodeMetadata('m', encodeMetadata('m', { ...base, compression })).compression,
        compression,
      );
    }
    const buf = encodeMetadata('m', base);
    // Codec byte at body offset 16 (after the 8-byte header); the body's SHA-256 is redone.
    const body = buf.subarray(8);
    body[16] = 9;
    createHash('sha256')
      .update(body.subarray(0, body.length - 32))
      .digest()
      .copy(body, body.length - 32);
    assert.throws(
      () => decodeMetadata('m', buf),
      (err: unknown) => err instanceof ReboundError && /codec 9/.test(err.message),
    );
  });
});
