// Requires: nbdcopy (libnbd-bin). Feature: multi-connection bulk copy in and out, checksum round trip.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MiB, type RunningServer, startServer, withTempDir } from '../helpers/nbd-fixture.js';
import { describeRun, requireTools, run } from '../helpers/tools.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('nbdcopy against the NBD server', () => {
  let srv: RunningServer;
  before(async () => {
    requireTools('nbdcopy');
    srv = await startServer();
  });
  after(() => srv?.close());

  it('copies 64 MiB in and back out with the same checksum', () =>
    withTempDir(async (dir) => {
      const src = path.join(dir, 'src.raw');
      const back = path.join(dir, 'back.raw');
      const data = Buffer.alloc(64 * MiB);
      for (let off = 0; off < data.length; off += 4 * MiB) randomBytes(MiB).copy(data, off); // data + zero runs
      await writeFile(src, data);
      let r = await run('nbdcopy', ['--connections=4', src, srv.uri('vol0')]);
      assert.equal(r.code, 0, describeRun(r));
      r = await run('nbdcopy', [srv.uri('vol0'), back]);
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(sha(await readFile(back)), sha(data));
    }));
});
