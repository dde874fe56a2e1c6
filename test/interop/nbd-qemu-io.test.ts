// Requires: qemu-io (qemu-utils). Feature: READ/WRITE/zero/discard/flush patterns over NBD.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../helpers/nbd-fixture.js';
import { describeRun, requireTools, run } from '../helpers/tools.js';

describe('qemu-io against the NBD server', () => {
  let srv: RunningServer;
  before(async () => {
    requireTools('qemu-io');
    srv = await startServer();
  });
  after(() => srv?.close());

  it('writes and reads back patterns at many offsets (aligned and not)', async () => {
    const cmds: string[] = [];
    const spots: [number, number, number][] = [
      [0, 4096, 0x11],
      [8192 + 512, 512, 0x22],
      [65536 - 7, 100, 0x33],
      [1 << 20, 1 << 20, 0x44],
      [5 * (1 << 20) + 12345, 300000, 0x5a],
      [64 * (1 << 20) - 4096, 4096, 0x66],
    ];
    for (const [off, len, p] of spots) cmds.push('-c', `write -P ${p} ${off} ${len}`);
    for (const [off, len, p] of spots) cmds.push('-c', `read -P ${p} ${off} ${len}`);
    cmds.push('-c', 'flush');
    const r = await run('qemu-io', ['-f', 'raw', ...cmds, srv.uri('vol0')]);
    assert.equal(r.code, 0, describeRun(r));
    assert.doesNotMatch(r.stdout + r.stderr, /Pattern verification failed|error/i, describeRun(r));
  });

  it('write -z and discard read back as zeros', async () => {
    const r = await run('qemu-io', [
      '-f',
      'raw',
      '-c',
      'write -P 0x77 2M 256k',
      '-c',
      'write -z 2M 64k',
      '-c',
      'read -P 0 2M 64k',
      '-c',
      'read -P 0x77 2162688 192k',
      '-c',
      'discard 3M 1M',
      '-c',
      'read -P 0 3M 1M',
      srv.uri('vol0'),
    ]);
    assert.equal(r.code, 0, describeRun(r));
    assert.doesNotMatch(r.stdout + r.stderr, /Pattern verification failed|error/i, describeRun(r));
  });

  it('a write past the end fails without killing the connection', async () => {
    const r = await run('qemu-io', [
      '-f',
      'raw',
      '-c',
      'write -P 1 64M 4k',
      '-c',
      'read -P 0 60M 4k',
      srv.uri('vol0'),
    ]);
    assert.match(
      r.stdout + r.stderr,
      /write failed|Input\/output error|No space|out of range|Invalid argument/i,
    );
    assert.match(r.stdout, /read 4096\/4096/, describeRun(r));
  });
});
