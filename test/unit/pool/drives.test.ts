// The drives' write path: writes made in one event-loop turn are written together, one
// pwritev per run of adjacent ones (small runs of a turn by a write worker, in one
// message); every byte lands where it was aimed, on every drive.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Drives } from '../../../src/pool/drives.js';

const BS = 4096;

function block(seed: number, length = BS): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed * 17 + 3) & 0xff;
  return b;
}

describe('drives', () => {
  it('writes of one turn, adjacent or not, across two drives, land byte for byte', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rebound-drives-'));
    try {
      // Two drives of 64 blocks: pool blocks 1..64 on the first, 65..128 on the second.
      const specs = [
        { path: 'd0.img', sizeBytes: 64 * BS },
        { path: 'd1.img', sizeBytes: 64 * BS },
      ];
      const drives = await Drives.open(dir, specs, BS, true);
      // Out of order, in one turn: a run of 300 adjacent blocks would pass one pwritev's
      // 256 buffers, so use runs across the drive boundary, partial blocks and lone ones.
      const writes: [number, number, Buffer][] = [];
      for (const pbn of [5, 3, 4, 6, 64, 65, 66, 10, 128, 1, 2]) writes.push([pbn, 0, block(pbn)]);
      writes.push([20, 100, block(20, 1000)]); // inside a block
      writes.push([20, 1100, block(21, 500)]); // right after it, in the same block
      await Promise.all(writes.map(([pbn, at, data]) => drives.write(pbn, at, data)));
      assert.equal(
        drives.stats.workerBytes,
        11 * BS + 1500,
        "the turn's small runs went to a write worker in one message",
      );
      // Many adjacent blocks in one turn: more than one pwritev's worth.
      await Promise.all(Array.from({ length: 60 }, (_, k) => drives.write(67 + k, 0, block(1000 + k))));
      const d0 = await readFile(join(dir, 'd0.img'));
      const d1 = await readFile(join(dir, 'd1.img'));
      const at = (pbn: number, inBlock = 0, length = BS) =>
        pbn <= 64
          ? d0.subarray((pbn - 1) * BS + inBlock, (pbn - 1) * BS + inBlock + length)
          : d1.subarray((pbn - 65) * BS + inBlock, (pbn - 65) * BS + inBlock + length);
      for (const pbn of [1, 2, 3, 4, 5, 6, 10, 64, 65, 66, 128])
        assert.deepEqual(at(pbn), block(pbn), `block ${pbn}`);
      assert.deepEqual(at(20, 100, 1000), block(20, 1000));
      assert.deepEqual(at(20, 1100, 500), block(21, 500));
      assert.deepEqual(at(20, 0, 100), Buffer.alloc(100), 'bytes before the write untouched');
      for (let k = 0; k < 60; k++) assert.deepEqual(at(67 + k), block(1000 + k), `block ${67 + k}`);
      assert.deepEqual(at(7), Buffer.alloc(BS), 'a block nobody wrote');
      // And they read back through the drives.
      const out = Buffer.alloc(BS);
      await drives.read(66, 0, out, 0, BS);
      assert.deepEqual(out, block(66));
      await drives.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a write that cannot be issued rejects (the process goes on)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rebound-drives-'));
    try {
      const drives = await Drives.open(dir, [{ path: 'd0.img', sizeBytes: 16 * BS }], BS, true);
      await drives.close(); // the descriptor is gone: every write now fails
      await assert.rejects(Promise.all([drives.write(1, 0, block(1)), drives.write(2, 0, block(2))]), /fd/);
      await assert.rejects(drives.write(9, 0, block(9)), /fd/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
