// Requires: qemu-img (qemu-utils), nbdinfo (libnbd-bin). Feature: unknown export names are refused cleanly.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer, waitFor } from '../helpers/nbd-fixture.js';
import { describeRun, requireTools, run } from '../helpers/tools.js';

describe('unknown export', () => {
  let srv: RunningServer;
  before(async () => {
    requireTools('qemu-img', 'nbdinfo');
    srv = await startServer();
  });
  after(() => srv?.close());

  it('qemu-img and nbdinfo get an error naming the export; the server keeps serving', async () => {
    const q = await run('qemu-img', ['info', srv.uri('missing')]);
    assert.notEqual(q.code, 0);
    assert.match(q.stderr, /missing/, describeRun(q));
    const n = await run('nbdinfo', [srv.uri('missing')]);
    assert.notEqual(n.code, 0);
    const ok = await run('nbdinfo', ['--size', srv.uri('vol0')]);
    assert.equal(ok.code, 0, describeRun(ok));
    assert.equal(ok.stdout.trim(), String(64 * 1024 * 1024));
    await waitFor(() => srv.server.connectionCount === 0, 'every connection to close');
    assert.equal(
      srv.exports.opened.get('vol0'),
      srv.exports.released.get('vol0'),
      'every open export released',
    );
  });
});
