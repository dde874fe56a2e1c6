// Requires: qemu-nbd (qemu-utils). Feature: the NBD client survives a server that goes
// away: requests wait while it reconnects, interrupted ones are re-sent, writes the
// crashed server lost from its cache are re-sent before the next flush, and when
// reconnecting gives up every request rejects with NBD_DISCONNECTED.
import assert from 'node:assert/strict';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BlockDevice } from '../../src/block/device.js';
import { isReboundError } from '../../src/errors.js';
import { connectNbd } from '../../src/nbd/client/index.js';
import type { ExportProvider } from '../../src/nbd/export.js';
import { NbdServer } from '../../src/nbd/server.js';
import { suiteTempDir, testLogger } from '../helpers/nbd-fixture.js';
import { freePort, startQemuNbd } from '../helpers/nbd-peers.js';
import { requireTools } from '../helpers/tools.js';
import { VolatileDevice } from '../helpers/volatile-device.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Distinct bytes per block index, so a block written to the wrong place shows. */
function pattern(i: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let j = 0; j < n; j += 512) b.writeUInt32BE(i * 100_000 + j, j);
  return b;
}

/** Our server exporting `device` as "vol" on `port` (0: any); stop() drops every connection. */
async function serve(device: BlockDevice, port = 0): Promise<{ port: number; stop(): Promise<void> }> {
  const provider: ExportProvider = {
    list: () => [{ name: 'vol' }],
    open: (name) =>
      name === 'vol' ? { name, device, bitmapNames: () => [], bitmap: () => undefined } : undefined,
  };
  const server = new NbdServer({ provider, logger: testLogger() });
  const address = await server.listen(port, '127.0.0.1');
  return { port: address.port, stop: () => server.close() };
}

const fast = { initialDelayMs: 20, maxDelayMs: 100 };

describe('NBD client reconnects', () => {
  let dir: string;
  let removeDir: () => Promise<void>;
  before(async () => {
    requireTools('qemu-nbd');
    ({ dir, remove: removeDir } = await suiteTempDir());
  });
  after(() => removeDir?.());

  it('qemu-nbd killed (SIGKILL) mid-stream of writes and restarted: every write lands', async () => {
    const file = path.join(dir, 'disk.raw');
    await writeFile(file, '');
    await truncate(file, 32 * MiB);
    const endpoint = { host: '127.0.0.1', port: await freePort() };
    const args = ['-f', 'raw', '-x', 'disk', '--cache=writeback', file];
    let peer = await startQemuNbd(endpoint, args);
    const dev = await connectNbd({
      ...endpoint,
      exportName: 'disk',
      reconnect: { ...fast, maxElapsedMs: 20_000 },
    });
    const blocks = 128;
    const size = 128 * KiB;
    let resolved = 0;
    const writes = Array.from({ length: blocks }, (_, i) =>
      dev.write(i * size, pattern(i, size)).then(() => {
        resolved++;
      }),
    );
    while (resolved < 16) await new Promise((r) => setTimeout(r, 1));
    await peer.kill();
    const atKill = resolved;
    await new Promise((r) => setTimeout(r, 300)); // requests wait meanwhile
    peer = await startQemuNbd(endpoint, args);
    try {
      await Promise.all(writes);
      await dev.flush();
      assert.ok(atKill < blocks, 'the server died with writes still to do');
      for (let i = 0; i < blocks; i++)
        assert.deepEqual(await dev.read(i * size, size), pattern(i, size), `block ${i}`);
      await dev.close();
      const onDisk = await readFile(file);
      for (let i = 0; i < blocks; i++) {
        assert.ok(
          onDisk.subarray(i * size, (i + 1) * size).equals(pattern(i, size)),
          `block ${i} in the file`,
        );
      }
    } finally {
      await peer.stop();
    }
  });

  it('writes a crashed server lost from its cache are re-sent, so the flush after covers them', async () => {
    const device = new VolatileDevice(16 * MiB);
    let server = await serve(device);
    const port = server.port;
    const dev = await connectNbd({ port, exportName: 'vol', reconnect: fast });
    await Promise.all(Array.from({ length: 32 }, (_, i) => dev.write(i * 64 * KiB, pattern(i, 64 * KiB))));
    await dev.write(3 * 64 * KiB, pattern(1000, 64 * KiB)); // overwrites: the replay must keep this order
    assert.ok(dev.unflushedBytes >= 33 * 64 * KiB);

    await server.stop();
    await device.crash();
    assert.deepEqual(
      await device.readDurable(0, 64 * KiB),
      Buffer.alloc(64 * KiB),
      'the crash lost the writes',
    );
    const later = dev.write(40 * 64 * KiB, pattern(40, 64 * KiB)); // waits for the reconnect
    server = await serve(device, port);
    try {
      await later;
      await dev.flush();
      assert.equal(dev.unflushedBytes, 0);
      for (let i = 0; i <= 40; i++) {
        if (i > 31 && i < 40) continue;
        const expected = pattern(i === 3 ? 1000 : i, 64 * KiB);
        assert.deepEqual(await device.readDurable(i * 64 * KiB, 64 * KiB), expected, `durable block ${i}`);
      }
      await dev.close();
    } finally {
      await server.stop();
    }
  });

  it('a write handed over is re-sent as it is; a copied one survives the caller reusing its buffer', async () => {
    const device = new VolatileDevice(4 * MiB);
    let server = await serve(device);
    const port = server.port;
    const dev = await connectNbd({ port, exportName: 'vol', reconnect: fast });
    const reused = pattern(1, 64 * KiB);
    await dev.write(0, reused);
    reused.fill(0xee); // the caller's buffer is its own again once the write resolved
    await dev.write(64 * KiB, pattern(2, 64 * KiB), { handOff: true });
    assert.ok(dev.unflushedBytes >= 2 * 64 * KiB, 'both count in full against the bound');

    await server.stop();
    await device.crash();
    server = await serve(device, port);
    try {
      await dev.flush(); // after the reconnect's replay
      assert.deepEqual(await device.readDurable(0, 64 * KiB), pattern(1, 64 * KiB), 'the copy was re-sent');
      assert.deepEqual(
        await device.readDurable(64 * KiB, 64 * KiB),
        pattern(2, 64 * KiB),
        'the handed-over buffer',
      );
      await dev.close();
    } finally {
      await server.stop();
    }
  });

  it('a lost write that cannot be re-sent makes every later flush reject', async () => {
    const device = new VolatileDevice(4 * MiB);
    let server = await serve(device);
    const port = server.port;
    const dev = await connectNbd({ port, exportName: 'vol', reconnect: fast });
    await dev.write(0, pattern(1, 64 * KiB));
    await dev.write(MiB, pattern(2, 64 * KiB));
    await server.stop();
    await device.crash();
    device.failWrites = (offset) => offset === MiB;
    server = await serve(device, port);
    try {
      for (let i = 0; i < 2; i++) {
        await assert.rejects(dev.flush(), (e) => {
          assert.ok(isReboundError(e, 'IO_ERROR'), String(e));
          assert.match(e.message, /acknowledged before the connection .* dropped could not be re-sent/);
          return true;
        });
      }
      assert.deepEqual(
        await device.readDurable(0, 64 * KiB),
        pattern(1, 64 * KiB),
        'the other write was re-sent',
      );
      await dev.close();
    } finally {
      await server.stop();
    }
  });

  it('unflushed data stays bounded: past maxUnflushedBytes the client flushes by itself', async () => {
    const device = new VolatileDevice(8 * MiB);
    const server = await serve(device);
    const dev = await connectNbd({ port: server.port, exportName: 'vol', maxUnflushedBytes: 256 * KiB });
    let peak = 0;
    for (let i = 0; i < 64; i++) {
      await dev.write(i * 64 * KiB, pattern(i, 64 * KiB));
      peak = Math.max(peak, dev.unflushedBytes);
    }
    assert.ok(peak <= 256 * KiB + 64 * KiB + 1024, `peak ${peak}`);
    assert.deepEqual(
      await device.readDurable(0, 64 * KiB),
      pattern(0, 64 * KiB),
      'flushed without being asked',
    );
    await dev.close();
    await server.stop();
  });

  it('when reconnecting gives up, waiting and new requests reject with NBD_DISCONNECTED', async () => {
    const device = new VolatileDevice(4 * MiB);
    const server = await serve(device);
    const dev = await connectNbd({
      port: server.port,
      exportName: 'vol',
      reconnect: { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 40 },
    });
    await dev.write(0, Buffer.alloc(4096, 1));
    await server.stop();
    const started = Date.now();
    await assert.rejects(dev.write(4096, Buffer.alloc(4096, 2)), (e) => {
      assert.ok(isReboundError(e, 'NBD_DISCONNECTED'), String(e));
      assert.match(
        e.message,
        /dropped .* 3 reconnect attempts over \d+ ms failed; last error: cannot connect/,
      );
      return true;
    });
    assert.ok(Date.now() - started < 3000);
    await assert.rejects(dev.read(0, 4096), (e) => isReboundError(e, 'NBD_DISCONNECTED'));
    await assert.rejects(dev.flush(), (e) => isReboundError(e, 'NBD_DISCONNECTED'));
    await dev.close();
  });

  it('without reconnect, a drop fails the requests at once', async () => {
    const device = new VolatileDevice(4 * MiB);
    const server = await serve(device);
    const dev = await connectNbd({ port: server.port, exportName: 'vol', reconnect: false });
    await dev.write(0, Buffer.alloc(4096, 1));
    assert.equal(dev.unflushedBytes, 0, 'nothing is kept when nothing will be re-sent');
    await server.stop();
    await assert.rejects(dev.read(0, 4096), (e) => isReboundError(e, 'NBD_DISCONNECTED'));
    await dev.close();
  });
});
