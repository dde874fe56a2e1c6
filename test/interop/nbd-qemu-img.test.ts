// Requires: qemu-img (qemu-utils). Feature: qemu-img convert to and from the server, compare, info, map.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MiB, type RunningServer, startServer, withTempDir } from '../helpers/nbd-fixture.js';
import { describeRun, requireTools, run } from '../helpers/tools.js';

describe('qemu-img against the NBD server', () => {
  let srv: RunningServer;
  before(async () => {
    requireTools('qemu-img');
    srv = await startServer({}, undefined);
  });
  after(() => srv?.close());

  it('converts a sparse raw file in and back out, byte-identical', () =>
    withTempDir(async (dir) => {
      // 64 MiB, the export's size: data islands in a sparse file.
      const src = path.join(dir, 'src.raw');
      const back = path.join(dir, 'back.raw');
      await writeFile(src, Buffer.alloc(0));
      const { open } = await import('node:fs/promises');
      const fh = await open(src, 'r+');
      for (const off of [0, 3 * MiB + 512, 17 * MiB, 63 * MiB])
        await fh.write(randomBytes(300_000), 0, 300_000, off);
      await fh.truncate(64 * MiB);
      await fh.close();
      let r = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, srv.uri('vol0')]);
      assert.equal(r.code, 0, describeRun(r));
      r = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, srv.uri('vol0')]);
      assert.equal(r.code, 0, describeRun(r));
      r = await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', srv.uri('vol0'), back]);
      assert.equal(r.code, 0, describeRun(r));
      r = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, back]);
      assert.equal(r.code, 0, describeRun(r));
    }));

  it('info reports the size; map (REQ_ONE block status) shows data and zero extents', async () => {
    let r = await run('qemu-img', ['info', '--output=json', srv.uri('vol0')]);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(JSON.parse(r.stdout)['virtual-size'], 64 * MiB);
    r = await run('qemu-img', ['map', '--output=json', '-f', 'raw', srv.uri('vol0')]);
    assert.equal(r.code, 0, describeRun(r));
    const map = JSON.parse(r.stdout) as { start: number; length: number; data: boolean; zero: boolean }[];
    assert.ok(map.some((e) => e.data) && map.some((e) => e.zero), r.stdout);
    assert.equal(map.at(-1)!.start + map.at(-1)!.length, 64 * MiB);
  });
});
