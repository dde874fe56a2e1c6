// Requires: nbdkit (its error and delay filters). Feature: the NBD client under server
// faults: an error fails that request alone with the mapped code and the connection goes
// on; replies out of order with many requests in flight land in the right requests; a
// request the server never answers is dropped after the request timeout, re-sent on a
// new connection, and after the last attempt rejects with NBD_DISCONNECTED.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isReboundError } from '../../src/errors.js';
import { connectNbd } from '../../src/nbd/client/index.js';
import type { NbdLogger } from '../../src/nbd/logger.js';
import { suiteTempDir } from '../helpers/nbd-fixture.js';
import { type PeerProcess, startNbdkit } from '../helpers/nbd-peers.js';
import { requireTools } from '../helpers/tools.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A logger that keeps the messages, to see whether the client reconnected. */
function recordingLogger(): NbdLogger & { messages: string[] } {
  const messages: string[] = [];
  const log = (_obj: object, msg: string) => {
    messages.push(msg);
  };
  return { messages, debug: log, info: log, warn: log, error: log };
}

const pattern = (i: number, n = 4 * KiB) => Buffer.alloc(n, (i * 37 + 1) & 0xff);
const code = (c: string) => (e: unknown) => isReboundError(e, c as never);

describe('NBD client against faulty servers', () => {
  let dir: string;
  let removeDir: () => Promise<void>;
  const peers: PeerProcess[] = [];
  const start = async (name: string, args: string[]) => {
    const peer = await startNbdkit({ path: path.join(dir, `${name}.sock`) }, args);
    peers.push(peer);
    return peer;
  };

  before(async () => {
    requireTools('nbdkit');
    ({ dir, remove: removeDir } = await suiteTempDir());
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.kill()));
    await removeDir?.();
  });

  it('each server error fails only its request, with its code; the connection stays', async () => {
    const trigger = (op: string) => path.join(dir, `fail-${op}`);
    const args = ['--filter=error', 'memory', '16M'];
    for (const [op, errno] of [
      ['pread', 'EIO'],
      ['pwrite', 'ENOSPC'],
      ['zero', 'EPERM'],
      ['trim', 'ESHUTDOWN'],
      ['extents', 'EINVAL'],
    ]) {
      args.push(`error-${op}=${errno}`, `error-${op}-rate=100%`, `error-${op}-file=${trigger(op)}`);
    }
    const peer = await start('errors', args);
    const logger = recordingLogger();
    const dev = await connectNbd({ ...peer.endpoint, exportName: '', logger });
    await dev.write(0, pattern(1, 64 * KiB));

    await writeFile(trigger('pread'), '');
    // The failing reads and a stream of writes at once: only the reads fail.
    const reads = Array.from({ length: 8 }, (_, i) => dev.read(i * 4 * KiB, 4 * KiB));
    const writes = Array.from({ length: 8 }, (_, i) => dev.write(MiB + i * 64 * KiB, pattern(i, 64 * KiB)));
    // Every rejection is handled at once: one awaited after another fails before its turn.
    await Promise.all(reads.map((r) => assert.rejects(r, code('IO_ERROR'))));
    await Promise.all(writes);
    await rm(trigger('pread'));
    for (let i = 0; i < 8; i++)
      assert.deepEqual(await dev.read(MiB + i * 64 * KiB, 64 * KiB), pattern(i, 64 * KiB));

    const expectations: [string, () => Promise<unknown>, string][] = [
      ['pwrite', () => dev.write(0, Buffer.alloc(512)), 'POOL_NO_SPACE'],
      ['zero', () => dev.writeZeroes(0, 4096), 'READ_ONLY'],
      ['trim', () => dev.trim(0, 65536), 'VOLUME_FENCED'],
      ['extents', () => dev.blockStatus(0, 65536), 'INVALID_ARGUMENT'],
    ];
    for (const [op, call, expected] of expectations) {
      await writeFile(trigger(op), '');
      await assert.rejects(call(), (e) => {
        assert.ok(isReboundError(e), String(e));
        assert.equal(e.code, expected, `${op}: ${e.message}`);
        return true;
      });
      await rm(trigger(op));
      await call();
    }
    // Nothing above lost data or the connection.
    assert.deepEqual(await dev.read(65536, 4096), Buffer.alloc(4096));
    await dev.flush();
    await dev.close();
    assert.ok(!logger.messages.some((m) => /reconnect|dropped/.test(m)), logger.messages.join('; '));
  });

  it('random read errors fail some reads; the others return the right bytes', async () => {
    const peer = await start('random', ['--filter=error', 'memory', '16M', 'error-pread-rate=30%']);
    const dev = await connectNbd({ ...peer.endpoint, exportName: '', maxInFlight: 64 });
    await Promise.all(Array.from({ length: 64 }, (_, i) => dev.write(i * 8 * KiB, pattern(i))));
    const results = await Promise.allSettled(
      Array.from({ length: 64 }, (_, i) => dev.read(i * 8 * KiB, 4 * KiB)),
    );
    let failed = 0;
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') assert.deepEqual(r.value, pattern(i), `read ${i}`);
      else {
        failed++;
        assert.ok(isReboundError(r.reason, 'IO_ERROR'), String(r.reason));
      }
    });
    assert.ok(failed > 0 && failed < 64, `${failed} of 64 reads failed`);
    await dev.close();
  });

  it('replies out of order, many in flight (delay filter): each lands in its own request', async () => {
    const peer = await start('delay', [
      '--filter=delay',
      'memory',
      '64M',
      'delay-read=400ms',
      'delay-write=0',
    ]);
    const dev = await connectNbd({ ...peer.endpoint, exportName: '', maxInFlight: 64 });
    await Promise.all(Array.from({ length: 32 }, (_, i) => dev.write(i * 64 * KiB, pattern(i, 64 * KiB))));
    const done: string[] = [];
    const started = Date.now();
    const ops: Promise<void>[] = [];
    // Fewer reads than nbdkit's 16 worker threads, so the writes are never queued behind them.
    for (let i = 0; i < 32; i++) {
      if (i % 4 === 0) {
        const r = i / 4;
        ops.push(
          dev.read(r * 64 * KiB, 64 * KiB).then((b) => {
            assert.deepEqual(b, pattern(r, 64 * KiB), `read ${r}`);
            done.push(`r${r}`);
          }),
        );
      }
      ops.push(
        dev.write(8 * MiB + i * 64 * KiB, pattern(i + 100, 64 * KiB)).then(() => void done.push(`w${i}`)),
      );
    }
    await Promise.all(ops);
    const elapsedMs = Date.now() - started;
    // Reads were sent first and interleaved, yet every write's reply overtook every read's.
    assert.equal(
      done.findIndex((d) => d.startsWith('r')),
      32,
      done.join(' '),
    );
    assert.ok(elapsedMs < 8 * 400, `the reads ran concurrently (${elapsedMs} ms)`);
    const back = await Promise.all(
      Array.from({ length: 32 }, (_, i) => dev.read(8 * MiB + i * 64 * KiB, 64 * KiB)),
    );
    back.forEach((b, i) => {
      assert.deepEqual(b, pattern(i + 100, 64 * KiB), `write ${i}`);
    });
    await dev.close();
  });

  it('a read the server never answers: timeout, reconnect, re-send, then NBD_DISCONNECTED for it alone', async () => {
    const peer = await start('stuck', ['--filter=delay', 'memory', '16M', 'delay-read=20']);
    const dev = await connectNbd({
      ...peer.endpoint,
      exportName: '',
      requestTimeoutMs: 400,
      reconnect: { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 50 },
    });
    await dev.write(0, Buffer.alloc(4096, 1));
    const started = Date.now();
    await assert.rejects(dev.read(0, 4096), (e) => {
      assert.ok(isReboundError(e, 'NBD_DISCONNECTED'), String(e));
      assert.match(e.message, /sent 3 times|no reply/);
      return true;
    });
    assert.ok(Date.now() - started < 5000);
    await dev.write(0, Buffer.alloc(1)); // writes are answered: the client goes on
    await dev.close();
  });
});
