// Requires: qemu-utils (qemu-io, qemu-img), gnutls-bin (psktool).
// Copy pairs between two real nodes on loopback (SPEC "Failback, method 1"): the
// secondary's volume is copied to the primary's export while hosts keep writing to it,
// the journal carries those writes across, and after fence + release the two volumes
// are byte-identical.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BlockDevice } from '../../src/block/index.js';
import { isReboundError } from '../../src/errors.js';
import type { PairView, StartPairBody } from '../../src/node/api-schema.js';
import { poolDir } from '../../src/node/daemon.js';
import { NodeStorage } from '../../src/volume/index.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { qemuIo, runOk } from '../helpers/tools.js';

const MiB = 1024 * 1024;
const BS = 65536;
const SIZE = 32 * MiB;

const code = (c: string) => (e: unknown) => isReboundError(e) && e.code === c;

function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 13 + seed * 101 + 7) & 0xff;
  return b;
}

/** A deterministic pseudo-random sequence (tests repeat the same way). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * A host writing to the volume until `stop()`: writes of 4 KiB to 256 KiB at random
 * offsets (overlapping each other and the copied blocks), some write-zeroes and trims,
 * a few at once. Every request must succeed.
 */
function hostWriter(dev: BlockDevice, seed: number, region = SIZE) {
  const rand = rng(seed);
  let stopped = false;
  let requests = 0;
  const worker = async () => {
    while (!stopped) {
      const len = (1 + Math.floor(rand() * 64)) * 4096;
      const offset = Math.floor(rand() * ((region - len) / 512)) * 512;
      const r = rand();
      if (r < 0.8) await dev.write(offset, pattern(len, requests), { fua: r < 0.1 });
      else if (r < 0.9) await dev.writeZeroes(offset, len);
      else await dev.trim(offset, len);
      requests++;
      if (requests % 16 === 0) await dev.flush();
    }
  };
  const done = Promise.all([worker(), worker(), worker()]);
  return {
    get requests() {
      return requests;
    },
    async stop() {
      stopped = true;
      await done;
      return requests;
    },
  };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Byte comparison of two devices in-process (for the TLS target, which qemu-img would need keys for). */
async function assertSameContents(a: BlockDevice, b: BlockDevice, size: number): Promise<void> {
  for (let off = 0; off < size; off += 4 * MiB) {
    const n = Math.min(4 * MiB, size - off);
    const [x, y] = await Promise.all([a.read(off, n), b.read(off, n)]);
    if (!x.equals(y)) {
      let i = 0;
      while (x[i] === y[i]) i++;
      assert.fail(`contents differ at byte ${off + i}`);
    }
  }
}

function target(fx: NodeFixture, exportName: string): StartPairBody['target'] {
  return { host: '127.0.0.1', port: fx.node.nbd.port, export: exportName };
}

/** Fence, release, unfence (so the export can be read again). */
async function fenceAndRelease(fx: NodeFixture, volume: string, pair: string): Promise<PairView> {
  await fx.client.fence(volume);
  const v = await fx.client.releasePair(volume, pair);
  await fx.client.unfence(volume);
  return v;
}

describe('copy pairs between two nodes', () => {
  let src: NodeFixture; // the secondary: the pair's source
  let dst: NodeFixture; // the primary: the pair's target

  before(async () => {
    [src, dst] = await Promise.all([startTestNode(), startTestNode()]);
  });
  after(async () => {
    await src?.close();
    await dst?.close();
  });

  it('delta: the frozen bitmap is copied while a host writes, the journal carries the writes, identical after release', async () => {
    const s = src.node.storage;
    await src.client.createVolume('v1', SIZE);
    await dst.client.createVolume('v1', SIZE);
    // Both sides start from the same restored contents...
    const base = pattern(16 * MiB, 1);
    await s.hostDevice('v1').write(0, base);
    await dst.node.storage.hostDevice('v1').write(0, base);
    // ... then the secondary's writes since the restore are marked, and the bitmap frozen.
    await src.client.createBitmap('v1', 'since-restore');
    for (let i = 0; i < 120; i++)
      await s.hostDevice('v1').write(((i * 37) % 480) * BS + 512, pattern(BS, i + 2));
    await s.hostDevice('v1').trim(20 * MiB, 2 * MiB);

    // A host keeps writing from before the pair starts until the volume is fenced. The
    // pair freezes the bitmap itself once its journal runs (S502, then S501), so no write
    // falls between the two.
    const writer = hostWriter(s.hostDevice('v1'), 42);
    const body: StartPairBody = {
      name: 'fb1',
      target: target(dst, 'v1'),
      mode: 'delta',
      bitmap: 'failback-base',
      freezeFrom: 'since-restore',
    };
    const started = await src.client.startPair('v1', body);
    assert.equal(started.state, 'initial-copy');
    const frozen = (await src.client.listBitmaps('v1')).find((b) => b.name === 'failback-base')!;
    assert.equal(frozen.active, false);
    assert.ok(frozen.dirtyBlocks > 50);
    // qemu-io on the source's export, during the copy too.
    const qemu = await qemuIo(src.uri('v1'), [
      'write -P 0x5a 1M 256k',
      'write -P 0x6b 1088k 64k',
      'discard 2M 192k',
      'write -z 3M 100k',
      'write -P 0x7c 30M 1M',
    ]);
    assert.equal(qemu.code, 0, qemu.stderr);

    // Idempotent on the name; listed; the volume cannot be deleted; not released unfenced.
    assert.equal((await src.client.startPair('v1', body)).name, 'fb1');
    assert.deepEqual(
      (await src.client.listPairs('v1')).map((p) => p.name),
      ['fb1'],
    );
    await assert.rejects(src.client.deleteVolume('v1'), code('BUSY'));
    await assert.rejects(src.client.releasePair('v1', 'fb1'), code('CONFLICT'));
    await assert.rejects(
      src.client.startPair('v1', { ...body, name: 'fb1-again' }),
      code('BUSY'),
      'one pair per volume',
    );

    // A long poll answers as the initial copy ends (or at once if it has ended).
    const copied = await src.client.getPair('v1', 'fb1', { waitMs: 30_000, whileState: 'initial-copy' });
    assert.equal(copied.state, 'streaming');
    assert.equal(copied.blocksCopied, copied.blocksToCopy);
    // Held while the state stays what it is, then answered as it is.
    const asked = Date.now();
    const held = await src.client.getPair('v1', 'fb1', { waitMs: 300 });
    assert.equal(held.state, 'streaming');
    assert.ok(Date.now() - asked >= 250, `held until the wait ran out (${Date.now() - asked} ms)`);
    await new Promise((r) => setTimeout(r, 300)); // more writes while streaming
    const requests = await writer.stop();
    assert.ok(requests > 20, `the host wrote ${requests} requests`);

    const released = await fenceAndRelease(src, 'v1', 'fb1');
    assert.equal(released.state, 'released');
    // In the bitmap's grain: the 4 KiB grains hosts wrote, not their 64 KiB blocks.
    assert.ok(frozen.grainBytes < frozen.blockSizeBytes && frozen.dirtyGrains < frozen.dirtyBlocks * 16);
    assert.equal(released.blocksToCopy, frozen.dirtyGrains, 'blocksToCopy is the frozen bitmap');
    assert.equal(released.blocksCopied, frozen.dirtyGrains);
    assert.ok(released.bytesCopied > 0);
    assert.ok(released.journal.entriesShipped > 0);
    assert.ok(released.journal.bytesShipped > 0, 'writes during the copy were shipped');
    assert.equal(released.journal.lagEntries, 0);
    assert.ok(released.copiedAt && released.releasedAt);
    assert.equal(released.error, null);
    // Released twice: the same answer.
    assert.equal((await src.client.releasePair('v1', 'fb1')).state, 'released');

    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src.uri('v1'), dst.uri('v1')]);

    // The pair let go: no pair bitmap, no journal; deleting it forgets it.
    assert.deepEqual((await src.client.getVolume('v1')).bitmaps.sort(), ['failback-base', 'since-restore']);
    // Started again with the same name: the pair as it is (idempotent), nothing frozen again.
    assert.equal((await src.client.startPair('v1', body)).state, 'released');
    assert.deepEqual(await readdir(join(src.dataDir, 'pairs', 'fb1')), ['pair.json']);
    await src.client.deletePair('v1', 'fb1');
    await assert.rejects(src.client.getPair('v1', 'fb1'), code('NOT_FOUND'));
    await src.client.deleteVolume('v1');
  });

  it('full: every block, holes written as zeros over a target full of other data', async () => {
    const s = src.node.storage;
    await src.client.createVolume('v2', SIZE);
    await dst.client.createVolume('v2', SIZE);
    await dst.node.storage.hostDevice('v2').write(0, pattern(SIZE, 9)); // old data everywhere
    await s.hostDevice('v2').write(4 * MiB, pattern(3 * MiB, 10)); // the rest is holes
    const writer = hostWriter(s.hostDevice('v2'), 7);
    const started = await src.client.startPair('v2', {
      name: 'full2',
      target: target(dst, 'v2'),
      mode: 'full',
    });
    assert.equal(started.mode, 'full');
    await waitFor('streaming', async () => (await src.client.getPair('v2', 'full2')).state === 'streaming');
    await writer.stop();
    const released = await fenceAndRelease(src, 'v2', 'full2');
    assert.equal(released.blocksToCopy, SIZE / BS);
    assert.equal(released.blocksCopied, SIZE / BS);
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src.uri('v2'), dst.uri('v2')]);
    await src.client.deletePair('v2', 'full2');
  });

  it('refuses what it cannot do, and leaves nothing behind', async () => {
    await src.client.createVolume('v3', SIZE);
    await src.client.createBitmap('v3', 'active');
    const t = target(dst, 'v3');
    await assert.rejects(
      src.client.startPair('v3', { name: 'p', target: t, mode: 'delta' }),
      code('INVALID_ARGUMENT'),
    );
    await assert.rejects(
      src.client.startPair('v3', { name: 'p', target: t, mode: 'delta', bitmap: 'active' }),
      code('INVALID_ARGUMENT'),
    );
    await assert.rejects(
      src.client.startPair('nope', { name: 'p', target: t, mode: 'full' }),
      code('NOT_FOUND'),
    );
    // No such export on the target, then a target smaller than the volume.
    await assert.rejects(
      src.client.startPair('v3', { name: 'p', target: t, mode: 'full' }),
      code('NOT_FOUND'),
    );
    await dst.client.createVolume('small', SIZE / 2);
    await assert.rejects(
      src.client.startPair('v3', { name: 'p', target: target(dst, 'small'), mode: 'full' }),
      code('INVALID_ARGUMENT'),
    );
    assert.deepEqual(await src.client.listPairs('v3'), []);
    assert.deepEqual((await src.client.getVolume('v3')).bitmaps, ['active']);
    await src.client.deleteVolume('v3');
  });

  it('a node restart mid-stream resumes the pair after the acknowledged entries; still identical', async () => {
    await src.client.createVolume('v4', SIZE);
    await dst.client.createVolume('v4', SIZE);
    await src.client.createBitmap('v4', 'b');
    await src.node.storage.hostDevice('v4').write(0, pattern(8 * MiB, 20));
    await src.client.freezeBitmap('v4', 'b', 'b0');
    await src.client.startPair('v4', { name: 'r4', target: target(dst, 'v4'), mode: 'delta', bitmap: 'b0' });
    await waitFor('streaming', async () => (await src.client.getPair('v4', 'r4')).state === 'streaming');
    let writer = hostWriter(src.node.storage.hostDevice('v4'), 99);
    await waitFor(
      'entries shipped',
      async () => (await src.client.getPair('v4', 'r4')).journal.entriesShipped > 10,
    );
    await writer.stop();
    const before = await src.client.getPair('v4', 'r4');

    const dataDir = src.dataDir;
    await src.stop();
    src = await startTestNode({ dataDir });
    const resumed = await src.client.getPair('v4', 'r4');
    assert.equal(resumed.state, 'streaming');
    assert.ok(resumed.journal.entriesShipped >= before.journal.entriesShipped);
    assert.ok(resumed.copiedAt);

    writer = hostWriter(src.node.storage.hostDevice('v4'), 100);
    await new Promise((r) => setTimeout(r, 400));
    await writer.stop();
    const released = await fenceAndRelease(src, 'v4', 'r4');
    assert.equal(released.state, 'released');
    assert.equal(released.blocksToCopy, before.blocksToCopy, 'a clean restart copies nothing again');
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src.uri('v4'), dst.uri('v4')]);
    await src.client.deletePair('v4', 'r4');
  });
});

describe('copy pair after a node that did not stop cleanly', () => {
  let src: NodeFixture;
  let dst: NodeFixture;
  before(async () => {
    [src, dst] = await Promise.all([startTestNode(), startTestNode()]);
  });
  after(async () => {
    await src?.close();
    await dst?.close();
  });

  it('copies the blocks written since the start again (a write in the volume that never reached the journal)', async () => {
    await src.client.createVolume('c', SIZE);
    await dst.client.createVolume('c', SIZE);
    await src.client.createBitmap('c', 'b');
    await src.node.storage.hostDevice('c').write(0, pattern(2 * MiB, 40));
    await src.client.startPair('c', {
      name: 'crash',
      target: target(dst, 'c'),
      mode: 'delta',
      bitmap: 'b0',
      freezeFrom: 'b',
    });
    await waitFor('streaming', async () => (await src.client.getPair('c', 'crash')).state === 'streaming');
    const before = await src.client.getPair('c', 'crash');
    const dataDir = src.dataDir;
    await src.stop();
    // What a crash can leave: data in the volume (bitmaps marked first) that the journal
    // never got, and a pair that was not stopped cleanly.
    const storage = await NodeStorage.open(poolDir(dataDir));
    await storage.device('c').write(5 * MiB + 100, pattern(3 * BS, 41));
    await storage.close();
    const file = join(dataDir, 'pairs', 'crash', 'pair.json');
    const record = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(record.cleanStop, true, 'a clean stop says so');
    await writeFile(file, JSON.stringify({ ...record, cleanStop: false }));

    src = await startTestNode({ dataDir });
    await waitFor('the copy again', async () => {
      const v = await src.client.getPair('c', 'crash');
      return (
        v.state === 'streaming' && v.blocksToCopy > before.blocksToCopy && v.blocksCopied === v.blocksToCopy
      );
    });
    const released = await fenceAndRelease(src, 'c', 'crash');
    assert.equal(released.state, 'released');
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src.uri('c'), dst.uri('c')]);
  });
});

describe('copy pair over NBD with a pre-shared key', () => {
  let src: NodeFixture;
  let dst: NodeFixture;
  let keys: string;
  before(async () => {
    keys = await mkdtemp(join(tmpdir(), 'rebound-psk-'));
    await runOk('psktool', ['-u', 'alice', '-p', join(keys, 'keys.psk')]);
    [src, dst] = await Promise.all([
      startTestNode(),
      startTestNode({ init: { tls: 'require', tlsPskFile: join(keys, 'keys.psk') } }),
    ]);
  });
  after(async () => {
    await src?.close();
    await dst?.close();
    await rm(keys, { recursive: true, force: true });
  });

  it('copies and streams over TLS; the key is sealed at rest and never shown', async () => {
    const key = (await readFile(join(keys, 'keys.psk'), 'utf8')).trim().split(':')[1];
    await src.client.createVolume('t', SIZE);
    await dst.client.createVolume('t', SIZE);
    await src.node.storage.hostDevice('t').write(MiB, pattern(4 * MiB, 30));
    const t = { ...target(dst, 't'), tls: { pskIdentity: 'alice', pskKey: key } };
    // Plaintext to a TLS-only node is refused; a wrong key fails the handshake.
    await assert.rejects(
      src.client.startPair('t', { name: 'tls', target: target(dst, 't'), mode: 'full' }),
      code('NBD_TLS_REQUIRED'),
    );
    await assert.rejects(
      src.client.startPair('t', {
        name: 'tls',
        target: { ...t, tls: { pskIdentity: 'alice', pskKey: '00'.repeat(32) } },
        mode: 'full',
      }),
      code('NBD_TLS_FAILED'),
    );
    // A refused start leaves nothing: no pair, no pair bitmap, no directory.
    assert.deepEqual(await src.client.listPairs('t'), []);
    assert.deepEqual(
      (await src.client.listBitmaps('t')).map((b) => b.name),
      [],
    );
    await assert.rejects(stat(join(src.dataDir, 'pairs', 'tls')), { code: 'ENOENT' });
    const view = await src.client.startPair('t', { name: 'tls', target: t, mode: 'full' });
    assert.ok(!JSON.stringify(view).includes(key));
    assert.ok(!(await readFile(join(src.dataDir, 'pairs', 'tls', 'pair.json'), 'utf8')).includes(key));
    const writer = hostWriter(src.node.storage.hostDevice('t'), 5);
    await waitFor('streaming', async () => (await src.client.getPair('t', 'tls')).state === 'streaming');
    await writer.stop();
    const released = await fenceAndRelease(src, 't', 'tls');
    assert.equal(released.state, 'released');
    assert.ok(released.journal.entriesShipped > 0);
    await assertSameContents(src.node.storage.device('t'), dst.node.storage.device('t'), SIZE);
  });
});

describe('copy pair with a small journal (JOURNAL_FULL)', () => {
  let src: NodeFixture;
  let dst: NodeFixture;
  before(async () => {
    [src, dst] = await Promise.all([
      startTestNode({ start: { pairs: { journal: { segmentBytes: 128 * 1024, maxBytes: 512 * 1024 } } } }),
      startTestNode(),
    ]);
  });
  after(async () => {
    await src?.close();
    await dst?.close();
  });

  it('host writes never fail; blocks written while the journal is full are copied again; identical', async () => {
    await src.client.createVolume('j', SIZE);
    await dst.client.createVolume('j', SIZE);
    await src.client.startPair('j', { name: 'small', target: target(dst, 'j'), mode: 'full' });
    const dev = src.node.storage.hostDevice('j');
    // Bursts of 64 KiB writes far bigger than the 512 KiB journal.
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          dev.write(((round * 64 + i) % 500) * BS, pattern(BS, round * 64 + i)),
        ),
      );
    }
    const writer = hostWriter(dev, 3);
    await new Promise((r) => setTimeout(r, 300));
    await writer.stop();
    const released = await fenceAndRelease(src, 'j', 'small');
    assert.equal(released.state, 'released');
    assert.ok(
      released.blocksToCopy > SIZE / BS,
      `marked blocks were copied again (${released.blocksToCopy})`,
    );
    await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src.uri('j'), dst.uri('j')]);
  });
});
