// Requires: qemu-img, qemu-io, qemu-nbd (qemu-utils), nbdinfo (libnbd-bin). Feature: the
// NBD client's block status: `base:allocation` and `qemu:dirty-bitmap:NAME` read from
// qemu-nbd (a qcow2 with a persistent bitmap) agree with what nbdinfo --map reports, and
// our server's update bitmap shows the client's own writes.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isReboundError } from '../../src/errors.js';
import { connectNbd, type NbdClientDevice } from '../../src/nbd/client/index.js';
import { MiB, type RunningServer, startServer, suiteTempDir } from '../helpers/nbd-fixture.js';
import { type PeerProcess, startQemuNbd } from '../helpers/nbd-peers.js';
import { nbdinfoMap, requireTools, runOk } from '../helpers/tools.js';

interface Run {
  offset: number;
  length: number;
  kind: string;
}

/** Walk [0, size) with `fn`, asking again from the end of each answer; adjacent equal kinds merged. */
async function walk(
  size: number,
  fn: (offset: number, length: number) => Promise<{ offset: number; length: number; kind: string }[]>,
): Promise<Run[]> {
  const out: Run[] = [];
  let at = 0;
  while (at < size) {
    const extents = await fn(at, size - at);
    assert.equal(extents[0].offset, at);
    for (const e of extents) push(out, e);
    at = extents[extents.length - 1].offset + extents[extents.length - 1].length;
  }
  return out;
}

function push(out: Run[], e: Run): void {
  const last = out[out.length - 1];
  if (last !== undefined && last.kind === e.kind && last.offset + last.length === e.offset)
    last.length += e.length;
  else out.push({ offset: e.offset, length: e.length, kind: e.kind });
}

const allocationKind = (hole: boolean, zero: boolean) => (hole ? 'hole' : zero ? 'zero' : 'data');

describe('NBD client block status', () => {
  let dir: string;
  let removeDir: () => Promise<void>;
  let qemu: PeerProcess;
  let ours: RunningServer;
  const size = 64 * MiB;

  before(async () => {
    requireTools('qemu-img', 'qemu-io', 'qemu-nbd', 'nbdinfo');
    ({ dir, remove: removeDir } = await suiteTempDir());
    const image = path.join(dir, 'bm.qcow2');
    await runOk('qemu-img', ['create', '-f', 'qcow2', image, '64M']);
    await runOk('qemu-img', ['bitmap', '--add', '-g', '64K', image, 'b0']);
    await runOk('qemu-io', [
      '-f',
      'qcow2',
      '-c',
      'write -P 0xab 1M 64k',
      '-c',
      'write -P 0xcd 10M 1M',
      '-c',
      'write -z 20M 2M',
      image,
    ]);
    qemu = await startQemuNbd({ path: path.join(dir, 'q.sock') }, [
      '-f',
      'qcow2',
      '-r',
      '-B',
      'b0',
      '-x',
      'vol1',
      image,
    ]);
    ours = await startServer();
  });
  after(async () => {
    await qemu?.stop();
    await ours?.close();
    await removeDir?.();
  });

  const qemuUri = () => `nbd+unix:///vol1?socket=${(qemu.endpoint as { path: string }).path}`;

  it('base:allocation and qemu:dirty-bitmap:b0 from qemu-nbd match nbdinfo --map', async () => {
    const dev: NbdClientDevice = await connectNbd({
      ...qemu.endpoint,
      exportName: 'vol1',
      metaContexts: ['base:allocation', 'qemu:dirty-bitmap:b0'],
    });
    try {
      const alloc = await walk(size, async (o, l) =>
        (await dev.blockStatus(o, l)).map((e) => ({ ...e, kind: allocationKind(e.hole, e.zero) })),
      );
      const expectedAlloc: Run[] = [];
      for (const m of await nbdinfoMap(qemuUri())) {
        push(expectedAlloc, {
          offset: m.offset,
          length: m.length,
          kind: allocationKind((m.type & 3) === 3, (m.type & 2) !== 0),
        });
      }
      assert.deepEqual(alloc, expectedAlloc);
      assert.ok(
        alloc.some((r) => r.kind === 'data' && r.offset <= MiB && r.offset + r.length >= MiB + 65536),
      );

      const dirty = await walk(size, async (o, l) =>
        (await dev.dirtyExtents('qemu:dirty-bitmap:b0', o, l)).map((e) => ({
          ...e,
          kind: e.dirty ? 'dirty' : 'clean',
        })),
      );
      const expectedDirty: Run[] = [];
      for (const m of await nbdinfoMap(qemuUri(), 'qemu:dirty-bitmap:b0')) {
        push(expectedDirty, { offset: m.offset, length: m.length, kind: m.type & 1 ? 'dirty' : 'clean' });
      }
      assert.deepEqual(dirty, expectedDirty);
      // The zeroed range is dirty in the bitmap though it is a hole in base:allocation (reference/nbd.md 1.5).
      assert.deepEqual(
        dirty.filter((r) => r.kind === 'dirty').map((r) => [r.offset, r.length]),
        [
          [MiB, 64 * 1024],
          [10 * MiB, MiB],
          [20 * MiB, 2 * MiB],
        ],
      );
    } finally {
      await dev.close();
    }
  });

  it("our server's bitmap shows the client's writes; status starts at an unaligned offset", async () => {
    const dev = await connectNbd({
      port: ours.port,
      exportName: 'vol0',
      metaContexts: ['base:allocation', 'qemu:dirty-bitmap:b0'],
    });
    await dev.write(5 * MiB + 100, Buffer.alloc(1000, 1));
    await dev.writeZeroes(7 * MiB, 128 * 1024);
    const dirty = (await dev.dirtyExtents('qemu:dirty-bitmap:b0', 4 * MiB, 4 * MiB)).filter((e) => e.dirty);
    assert.deepEqual(
      dirty.map((e) => [e.offset, e.length]),
      [
        [5 * MiB, 65536],
        [7 * MiB, 128 * 1024],
      ],
    );
    const status = await dev.blockStatus(5 * MiB + 10, 200);
    assert.deepEqual(status, [{ offset: 5 * MiB + 10, length: 200, hole: false, zero: false }]);
    await dev.close();
  });

  it('a context not selected is NOT_FOUND; a name outside qemu:dirty-bitmap: INVALID_ARGUMENT', async () => {
    const dev = await connectNbd({ port: ours.port, exportName: 'vol0' });
    assert.deepEqual(dev.metaContexts, ['base:allocation']);
    await assert.rejects(dev.dirtyExtents('qemu:dirty-bitmap:b0', 0, 4096), (e) =>
      isReboundError(e, 'NOT_FOUND'),
    );
    await assert.rejects(dev.dirtyExtents('base:allocation', 0, 4096), (e) =>
      isReboundError(e, 'INVALID_ARGUMENT'),
    );
    await dev.close();
  });
});
