// Requires: nbdinfo (libnbd-bin), qemu-img (qemu-utils). Feature: FORCEDTLS refuses plaintext clients.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer, suiteTempDir } from '../helpers/nbd-fixture.js';
import { writePskFile } from '../helpers/nbd-tls.js';
import { describeRun, requireTools, run } from '../helpers/tools.js';

describe('TLS required', () => {
  let srv: RunningServer;
  let finish: () => Promise<void>;
  before(async () => {
    requireTools('nbdinfo', 'qemu-img');
    const tmp = await suiteTempDir();
    finish = tmp.remove;
    const dir = tmp.dir;
    srv = await startServer({ tls: { mode: 'require', psk: { pskFile: await writePskFile(dir) } } });
  });
  after(async () => {
    await srv?.close();
    await finish?.();
  });

  it('plaintext nbdinfo and qemu-img are refused; no export is opened', async () => {
    const n = await run('nbdinfo', [srv.uri('vol0')]);
    assert.notEqual(n.code, 0, describeRun(n));
    assert.match(n.stderr, /TLS|not supported/i, describeRun(n));
    const l = await run('nbdinfo', ['--list', `nbd://127.0.0.1:${srv.port}`]);
    assert.notEqual(l.code, 0, describeRun(l));
    const q = await run('qemu-img', ['info', srv.uri('vol0')]);
    assert.notEqual(q.code, 0, describeRun(q));
    assert.equal(srv.exports.opened.size, 0);
  });
});
