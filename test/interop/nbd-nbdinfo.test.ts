// Requires: nbdinfo (libnbd-bin). Feature: LIST, INFO, base:allocation map, qemu:dirty-bitmap map.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MiB, type RunningServer, startServer } from '../helpers/nbd-fixture.js';
import { describeRun, requireTools, run } from '../helpers/tools.js';

interface MapEntry {
  offset: number;
  length: number;
  type: number;
  description: string;
}

describe('nbdinfo against the NBD server', () => {
  let srv: RunningServer;
  before(async () => {
    requireTools('nbdinfo');
    srv = await startServer();
  });
  after(() => srv?.close());

  it('--list shows both exports, the description and the contexts', async () => {
    const r = await run('nbdinfo', ['--list', `nbd://127.0.0.1:${srv.port}`]);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /export="vol0"/);
    assert.match(r.stdout, /export="ro"/);
    assert.match(r.stdout, /description: test export vol0/);
    assert.match(r.stdout, /qemu:dirty-bitmap:b0/);
    assert.match(r.stdout, /is_read_only: true/);
  });

  it('an unwritten export maps as one hole', async () => {
    const r = await run('nbdinfo', ['--map', '--json', srv.uri('ro')]);
    assert.equal(r.code, 0, describeRun(r));
    const map = JSON.parse(r.stdout) as MapEntry[];
    assert.deepEqual(
      map.map((e) => [e.offset, e.length, e.type]),
      [[0, 8 * MiB, 3]],
    );
  });

  it('--map=qemu:dirty-bitmap:b0 shows exactly the written blocks; base:allocation the data', async () => {
    const { vol0 } = srv.exports;
    await vol0.write(MiB, Buffer.alloc(65536, 1));
    await vol0.write(10 * MiB + 100, Buffer.alloc(10, 2)); // dirties one 64 KiB block
    await vol0.writeZeroes(20 * MiB, 2 * MiB); // dirty, but a hole
    let r = await run('nbdinfo', ['--map=qemu:dirty-bitmap:b0', '--json', srv.uri('vol0')]);
    assert.equal(r.code, 0, describeRun(r));
    const dirty = (JSON.parse(r.stdout) as MapEntry[])
      .filter((e) => e.type === 1)
      .map((e) => [e.offset, e.length]);
    assert.deepEqual(dirty, [
      [MiB, 65536],
      [10 * MiB, 65536],
      [20 * MiB, 2 * MiB],
    ]);
    r = await run('nbdinfo', ['--map', '--json', srv.uri('vol0')]);
    assert.equal(r.code, 0, describeRun(r));
    const data = (JSON.parse(r.stdout) as MapEntry[])
      .filter((e) => e.type === 0)
      .map((e) => [e.offset, e.length]);
    assert.deepEqual(data, [
      [MiB, 65536],
      [10 * MiB, 65536],
    ]);
  });

  it('an unknown export is an error, not a hang', async () => {
    const r = await run('nbdinfo', [srv.uri('nope')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /nope|unknown|not found|export/i, describeRun(r));
  });
});
