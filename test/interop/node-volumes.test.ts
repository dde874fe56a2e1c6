// Requires: qemu-utils (qemu-io, qemu-img), libnbd-bin (nbdinfo, nbdcopy).
// A real node (pool on temp files) serving volumes to real NBD clients: data written by
// qemu-io reads back, thin volumes map as holes, update bitmaps show exactly the blocks
// written since they were made, snapshots are read-only point-in-time exports, a fenced
// volume refuses host I/O, a full pool answers ENOSPC while other volumes go on.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { nbdinfoMap, qemuIo, run, runOk } from '../helpers/tools.js';

const MiB = 2 ** 20;

describe('a node serving pool volumes to real NBD clients', () => {
  let fx: NodeFixture;
  let tmp: string;
  before(async () => {
    fx = await startTestNode({ poolSizeBytes: 256 * MiB });
    tmp = await mkdtemp(join(tmpdir(), 'rebound-interop-'));
  });
  after(async () => {
    await fx.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('qemu-io writes and reads back patterns at many offsets, and the volume stays thin', async () => {
    await fx.client.createVolume('data', 64 * MiB);
    // Non-overlapping ranges: unaligned, crossing 64 KiB blocks, at the very end.
    const ranges: [number, number][] = [
      [0, 70_656],
      [131_072 + 512, 4096],
      [3 * MiB + 1024, 70_656],
      [17 * MiB - 4096, 8192],
      [30 * MiB + 65_024, 1024],
      [64 * MiB - 8192, 8192],
    ];
    const pattern = (i: number) => `0x${(0x11 * (i + 1)).toString(16)}`;
    const writes = ranges.map(([off, len], i) => `write -P ${pattern(i)} ${off} ${len}`);
    assert.equal((await qemuIo(fx.uri('data'), writes)).code, 0);
    const reads = ranges.map(([off, len], i) => `read -P ${pattern(i)} ${off} ${len}`);
    reads.push(`read -P 0 ${70_656} ${131_072 + 512 - 70_656}`); // the gap between stays zero
    const r = await qemuIo(fx.uri('data'), reads);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /Pattern verification failed/);
    const v = await fx.client.getVolume('data');
    assert.ok(v.usedBytes > 0 && v.usedBytes <= 10 * 65536, `used ${v.usedBytes}`);
  });

  it('reads one after another each get their own bytes: data, holes and overlays, in reused buffers', async () => {
    // The server answers READs from buffers it uses again (nbd/reply-buffers.ts): a hole
    // read into one that carried data must still read as zeros, and a block made of an
    // overlay's grains and its base's must be whole.
    await fx.client.createVolume('reuse', 8 * MiB);
    const setup = await qemuIo(fx.uri('reuse'), [
      `write -P 0xa1 0 ${MiB}`,
      `write -P 0xb2 ${2 * MiB} ${MiB}`,
    ]);
    assert.equal(setup.code, 0, setup.stdout + setup.stderr);
    await fx.client.createSnapshot('reuse', 's');
    // Into blocks the snapshot shares: overlays of one 4 KiB grain each.
    assert.equal((await qemuIo(fx.uri('reuse'), [`write -P 0xc3 ${2 * MiB + 8192} 4096`])).code, 0);
    const reads: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (const len of [MiB, 70_656, 65_536, 4096]) {
        reads.push(`read -P 0xa1 0 ${len}`, `read -P 0 ${MiB} ${len}`, `read -P 0 ${4 * MiB} ${len}`);
      }
      reads.push(
        `read -P 0xb2 ${2 * MiB} 8192`,
        `read -P 0xc3 ${2 * MiB + 8192} 4096`,
        `read -P 0xb2 ${2 * MiB + 12_288} ${MiB - 12_288}`,
        `read -P 0 ${3 * MiB} ${MiB}`,
      );
    }
    const r = await qemuIo(fx.uri('reuse'), reads);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /Pattern verification failed/);
    assert.equal((r.stdout.match(/^read /gm) ?? []).length, reads.length);
    await fx.client.deleteSnapshot('reuse', 's');
  });

  it('an unwritten volume maps as one hole; written ranges map as data', async () => {
    await fx.client.createVolume('thin', 32 * MiB);
    assert.deepEqual(
      (await nbdinfoMap(fx.uri('thin'))).map((e) => [e.offset, e.length, e.type & 1]),
      [[0, 32 * MiB, 1]],
    );
    await runOk('qemu-io', ['-f', 'raw', '-c', `write -P 1 ${4 * MiB} ${MiB}`, fx.uri('thin')]);
    const map = await nbdinfoMap(fx.uri('thin'));
    const data = map.filter((e) => (e.type & 1) === 0);
    assert.deepEqual(
      data.map((e) => [e.offset, e.length]),
      [[4 * MiB, MiB]],
    );
  });

  it('qemu:dirty-bitmap:NAME shows exactly the blocks written since the bitmap was made', async () => {
    await fx.client.createVolume('tracked', 32 * MiB);
    await runOk('qemu-io', ['-f', 'raw', '-c', `write -P 7 0 ${MiB}`, fx.uri('tracked')]);
    await fx.client.createBitmap('tracked', 'b0');
    await runOk('qemu-io', [
      '-f',
      'raw',
      '-c',
      `write -P 9 ${MiB + 100} 10`, // one block, touched by 10 bytes
      '-c',
      `write -z ${8 * MiB} ${2 * MiB}`,
      '-c',
      `discard ${20 * MiB} ${MiB}`,
      fx.uri('tracked'),
    ]);
    const dirty = (await nbdinfoMap(fx.uri('tracked'), 'qemu:dirty-bitmap:b0')).filter((e) => e.type === 1);
    assert.deepEqual(
      dirty.map((e) => [e.offset, e.length]),
      [
        [MiB, 65536],
        [8 * MiB, 2 * MiB],
        [20 * MiB, MiB],
      ],
    );
    const b = (await fx.client.listBitmaps('tracked')).find((x) => x.name === 'b0');
    assert.equal(b?.dirtyBlocks, 1 + 32 + 16);
    const list = await runOk('nbdinfo', ['--list', `nbd://127.0.0.1:${fx.node.nbd.port}`]);
    assert.match(list, /qemu:dirty-bitmap:b0/);
  });

  it('a snapshot is a read-only export of the volume as it was', async () => {
    await fx.client.createVolume('snapped', 16 * MiB);
    await runOk('qemu-io', ['-f', 'raw', '-c', `write -P 0xaa 0 ${2 * MiB}`, fx.uri('snapped')]);
    await fx.client.createSnapshot('snapped', 'before');
    await runOk('qemu-io', ['-f', 'raw', '-c', `write -P 0xbb ${MiB} ${MiB}`, fx.uri('snapped')]);
    const old = await qemuIo(fx.uri('snapped@before'), [`read -P 0xaa 0 ${2 * MiB}`], { readOnly: true });
    assert.equal(old.code, 0);
    assert.doesNotMatch(old.stdout, /Pattern verification failed/);
    const now = await qemuIo(fx.uri('snapped'), [`read -P 0xaa 0 ${MiB}`, `read -P 0xbb ${MiB} ${MiB}`]);
    assert.doesNotMatch(now.stdout, /Pattern verification failed/);
    const write = await qemuIo(fx.uri('snapped@before'), ['write -P 1 0 4096']);
    assert.match(write.stdout + write.stderr, /Operation not permitted|read-only|Permission denied/i);
  });

  it('qemu-img converts a raw image in and out; compare says identical', async () => {
    const src = join(tmp, 'src.raw');
    const image = Buffer.alloc(8 * MiB);
    for (let i = 0; i < image.length; i += 4096) image.writeUInt32BE(i, i);
    await writeFile(src, image);
    await fx.client.createVolume('conv', 8 * MiB);
    await runOk('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, fx.uri('conv')]);
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, fx.uri('conv')]);
    const back = join(tmp, 'back.raw');
    await runOk('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', fx.uri('conv'), back]);
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, back]);
    await runOk('nbdcopy', [src, fx.uri('conv')]);
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, fx.uri('conv')]);
  });

  it('a fenced volume refuses host I/O until unfenced', async () => {
    await fx.client.createVolume('fenced', 8 * MiB);
    await fx.client.fence('fenced');
    const r = await qemuIo(fx.uri('fenced'), ['write -P 1 0 4096']);
    assert.match(r.stdout + r.stderr, /failed|shutdown|error/i, 'a write must fail while fenced');
    await fx.client.unfence('fenced');
    const ok = await qemuIo(fx.uri('fenced'), ['write -P 1 0 4096', 'read -P 1 0 4096']);
    assert.equal(ok.code, 0);
    assert.doesNotMatch(ok.stdout, /failed/);
  });

  it('a full pool answers ENOSPC; other volumes read and write on', async () => {
    await fx.client.createVolume('hog', 512 * MiB); // bigger than the 256 MiB pool: thin
    const fill = await run(
      'qemu-io',
      ['-f', 'raw', '-c', `write -P 3 0 ${300 * MiB}`, fx.uri('hog')],
      120_000,
    );
    assert.match(fill.stdout + fill.stderr, /No space left on device/);
    const r = await qemuIo(fx.uri('data'), ['read -P 0x11 0 4096']);
    assert.doesNotMatch(r.stdout, /failed/);
    await fx.client.deleteVolume('hog');
    const again = await qemuIo(fx.uri('thin'), [`write -P 5 0 ${4 * MiB}`, `read -P 5 0 ${4 * MiB}`]);
    assert.doesNotMatch(again.stdout + again.stderr, /failed|No space/);
  });
});
