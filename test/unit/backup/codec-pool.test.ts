import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { CodecPool, sharedBuffer } from '../../../src/backup/codec-pool.js';
import { CHECKSUM_BYTES, deriveKeys } from '../../../src/backup/crypto.js';
import {
  BLOCK_COMPRESSED,
  BLOCK_DEFLATED,
  BLOCK_ZERO,
  BLOCK_ZSTD,
  decodeBlock,
  encodeBlockSync,
  looksIncompressible,
  maxStoredBytes,
} from '../../../src/backup/format.js';
import { ReboundError } from '../../../src/errors.js';

const BS = 65536;
const UID = '0A1B2C3D:7';

function text(n: number): Buffer {
  const words = ['rebound ', 'block ', 'backup ', 'restore ', 'volume ', 'the ', 'of '];
  const b = Buffer.alloc(n);
  let at = 0;
  for (let i = 0; at < n; i++) {
    const w = words[(i * 7 + (i >> 3)) % words.length];
    at += b.write(w, at);
  }
  return b;
}

/** A chunk of 4 blocks: text, random, zeros, zeros with 4 KiB of random in the middle. */
function chunk(): Buffer {
  const mostlyZero = Buffer.alloc(BS);
  randomBytes(4096).copy(mostlyZero, 30000);
  return Buffer.concat([text(BS), randomBytes(BS), Buffer.alloc(BS), mostlyZero]);
}

describe('looksIncompressible', () => {
  it('flags random bytes and passes text, zeros and mostly-zero blocks', () => {
    assert.equal(looksIncompressible(randomBytes(BS)), true);
    assert.equal(looksIncompressible(text(BS)), false);
    assert.equal(looksIncompressible(Buffer.alloc(BS)), false);
    const mostlyZero = Buffer.alloc(BS);
    randomBytes(4096).copy(mostlyZero, 0);
    assert.equal(looksIncompressible(mostlyZero), false);
    // Half random, half text: compression still saves well over 1/8.
    assert.equal(looksIncompressible(Buffer.concat([randomBytes(BS / 2), text(BS / 2)])), false);
    // Blocks too small to sample are always tried.
    assert.equal(looksIncompressible(randomBytes(4096)), false);
  });

  it('makes encodeBlockSync store random blocks raw without changing what decodes', () => {
    for (const compression of ['brotli', 'deflate', 'zstd'] as const) {
      const noise = randomBytes(BS);
      const n = encodeBlockSync(noise, 1, { compression, uniqueId: UID });
      assert.equal(n.flags, 0);
      assert.deepEqual(n.stored, noise);
      const t = encodeBlockSync(text(BS), 2, { compression, uniqueId: UID });
      assert.equal(
        t.flags,
        { brotli: BLOCK_COMPRESSED, deflate: BLOCK_DEFLATED, zstd: BLOCK_ZSTD }[compression],
      );
      assert.ok(t.stored.length < BS / 4);
      const opts = { blockSizeBytes: BS, uniqueId: UID, where: 'obj' };
      assert.deepEqual(decodeBlock(t.stored, t.flags, t.checksum, { ...opts, block: 2 }), text(BS));
    }
  });
});

describe('CodecPool', () => {
  const pools: CodecPool[] = [];
  const make = (workers: number, workerUrl?: URL) => {
    const p = new CodecPool({ workers, workerUrl });
    pools.push(p);
    return p;
  };
  after(async () => {
    for (const p of pools) await p.close();
  });

  for (const workers of [0, 2]) {
    it(`encodes and decodes chunks, plain and encrypted (${workers} workers)`, async () => {
      const pool = make(workers);
      const data = chunk();
      for (const keys of [undefined, deriveKeys(randomBytes(32))]) {
        for (const compression of ['zstd', 'brotli', 'deflate', 'none'] as const) {
          const r = await pool.encode(data, {
            blockSizeBytes: BS,
            firstBlock: 40,
            compression,
            keys,
            uniqueId: UID,
          });
          assert.equal(r.flags.length, 4);
          assert.equal(r.flags[2], BLOCK_ZERO);
          assert.equal(r.lengths[2], 0);
          if (!keys) assert.equal(r.lengths[1], BS, 'random block stored raw');
          if (compression !== 'none') assert.ok(r.lengths[0] < BS / 4);
          // Same result as encodeBlockSync block by block (checksums are deterministic).
          for (let i = 0; i < 4; i++) {
            const one = encodeBlockSync(data.subarray(i * BS, (i + 1) * BS), 40 + i, {
              compression,
              keys,
              uniqueId: UID,
            });
            assert.equal(r.flags[i], one.flags);
            assert.deepEqual(Buffer.from(r.checksums.subarray(i * 32, i * 32 + 32)), one.checksum);
          }
          // Decode the non-zero ones back from the stored bytes.
          const idx = [0, 1, 3];
          const starts = [0, r.lengths[0], r.lengths[0] + r.lengths[1] + r.lengths[2]];
          const stored = Buffer.from(r.stored);
          const d = await pool.decode(stored, {
            blockSizeBytes: BS,
            blocks: Float64Array.from(idx.map((i) => 40 + i)),
            offsets: Float64Array.from(starts),
            lengths: Uint32Array.from(idx.map((i) => r.lengths[i])),
            flags: Uint8Array.from(idx.map((i) => r.flags[i])),
            checksums: Uint8Array.from(idx.flatMap((i) => [...r.checksums.subarray(i * 32, i * 32 + 32)])),
            keys,
            uniqueId: UID,
            where: 'volumes/x/data/1',
          });
          const want = Buffer.concat(idx.map((i) => data.subarray(i * BS, (i + 1) * BS)));
          assert.deepEqual(Buffer.from(d.plain), want);
          assert.equal(stored.length, r.stored.length, 'the caller keeps its buffer');
        }
      }
    });

    it(`rejects a damaged block as BACKUP_OBJECT_CORRUPT naming the object (${workers} workers)`, async () => {
      const pool = make(workers);
      const data = text(BS);
      for (const compression of ['brotli', 'zstd'] as const) {
        const r = await pool.encode(data, {
          blockSizeBytes: BS,
          firstBlock: 0,
          compression,
          uniqueId: UID,
        });
        const bad = Buffer.from(r.stored);
        bad[10] ^= 0x40;
        await assert.rejects(
          pool.decode(bad, {
            blockSizeBytes: BS,
            blocks: Float64Array.of(0),
            offsets: Float64Array.of(0),
            lengths: Uint32Array.of(r.lengths[0]),
            flags: Uint8Array.of(r.flags[0]),
            checksums: r.checksums.slice(0, CHECKSUM_BYTES),
            uniqueId: UID,
            where: 'volumes/x/data/7',
          }),
          (err: unknown) =>
            err instanceof ReboundError &&
            err.code === 'BACKUP_OBJECT_CORRUPT' &&
            err.message.includes('volumes/x/data/7'),
        );
      }
    });
  }

  for (const compression of ['brotli', 'zstd'] as const)
    it(`reads shared-memory input in place and decodes straight into a shared output, clipped (${compression})`, async () => {
      const pool = make(2);
      const data = sharedBuffer(2 * BS);
      text(BS).copy(data);
      randomBytes(BS).copy(data, BS);
      const r = await pool.encode(data, {
        blockSizeBytes: BS,
        firstBlock: 9,
        compression,
        uniqueId: UID,
      });
      assert.equal(data.length, 2 * BS, 'shared input is neither detached nor copied away');
      const out = sharedBuffer(BS); // a read of [9.5, 10.5) blocks
      const d = await pool.decode(Buffer.from(r.stored), {
        blockSizeBytes: BS,
        blocks: Float64Array.of(9, 10),
        offsets: Float64Array.of(0, r.lengths[0]),
        lengths: Uint32Array.from(r.lengths),
        flags: Uint8Array.from(r.flags),
        checksums: r.checksums,
        uniqueId: UID,
        where: 'k',
        out,
        outOffsets: Float64Array.of(-BS / 2, BS / 2),
      });
      assert.equal(d.plain.length, 0);
      assert.deepEqual(out, data.subarray(BS / 2, BS + BS / 2));
    });

  for (const workers of [0, 2]) {
    it(`encodes several pieces, moving owned buffers, into a shared output (${workers} workers)`, async () => {
      const pool = make(workers);
      const keys = deriveKeys(randomBytes(32));
      const owned = Buffer.allocUnsafeSlow(2 * BS); // alone in its memory: moved, not copied
      text(BS).copy(owned);
      randomBytes(BS).copy(owned, BS);
      const shared = sharedBuffer(BS);
      randomBytes(4096).copy(shared, 1000);
      const short = text(1000); // a volume's short last block: zero-padded
      const want = Buffer.concat([owned, shared, short, Buffer.alloc(BS - 1000)]);
      const out = sharedBuffer(4 * maxStoredBytes(BS, true));
      const r = await pool.encode([owned, shared, short], {
        blockSizeBytes: BS,
        blocks: Float64Array.of(3, 4, 9, 20),
        compression: 'brotli',
        keys,
        uniqueId: UID,
        transfer: true,
        out,
      });
      assert.equal(r.stored.length, 0, 'payloads are in out');
      assert.equal(owned.length, workers > 0 ? 0 : 2 * BS, 'an owned buffer is moved to a worker');
      assert.equal(shared.length, BS, 'shared memory is read in place');
      let at = 0;
      const blocks = [3, 4, 9, 20];
      for (let i = 0; i < 4; i++) {
        const plain = want.subarray(i * BS, (i + 1) * BS);
        const stored = out.subarray(at, at + r.lengths[i]);
        const got = decodeBlock(stored, r.flags[i], Buffer.from(r.checksums.subarray(i * 32, i * 32 + 32)), {
          blockSizeBytes: BS,
          keys,
          uniqueId: UID,
          block: blocks[i],
          where: 'obj',
        });
        assert.deepEqual(got, plain, `block ${blocks[i]}`);
        at += r.lengths[i];
      }
      await assert.rejects(
        pool.encode(text(BS), {
          blockSizeBytes: BS,
          firstBlock: 0,
          compression: 'brotli',
          uniqueId: UID,
          out: sharedBuffer(100),
        }),
        /output of 100 bytes/,
      );
    });
  }

  it('survives a worker that dies: its jobs reject with INTERNAL, later jobs run', async () => {
    const pool = make(2);
    await assert.rejects(pool.run({ op: 'fail', exit: 3 }), (err: unknown) => {
      assert.ok(err instanceof ReboundError);
      assert.equal(err.code, 'INTERNAL');
      assert.match(err.message, /exited with code 3/);
      return true;
    });
    await assert.rejects(pool.run({ op: 'fail' }), { code: 'INTERNAL' });
    assert.equal(pool.crashes, 1);
    const r = await pool.encode(text(BS), {
      blockSizeBytes: BS,
      firstBlock: 0,
      compression: 'brotli',
      uniqueId: UID,
    });
    assert.equal(r.flags[0], BLOCK_COMPRESSED);
  });

  it('rejects every job of a worker script that crashes, and keeps no process alive', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'codec-pool-'));
    const script = join(dir, 'crash.mjs');
    await writeFile(
      script,
      "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => { throw new Error('boom'); });\n",
    );
    try {
      const pool = make(1, pathToFileURL(script));
      const data = text(BS);
      const jobs = [0, 1, 2].map((i) =>
        pool.encode(data, { blockSizeBytes: BS, firstBlock: i, compression: 'brotli', uniqueId: UID }),
      );
      await Promise.all(jobs.map((j) => assert.rejects(j, { code: 'INTERNAL' })));
      assert.ok(pool.crashes >= 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses jobs once closed', async () => {
    const pool = make(1);
    await pool.close();
    await assert.rejects(pool.run({ op: 'fail' }), { code: 'INTERNAL' });
  });
});
