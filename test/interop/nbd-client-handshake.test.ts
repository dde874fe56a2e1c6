// Requires: qemu-nbd (qemu-utils), nbdkit. Feature: the NBD client's handshake: what it
// negotiates with real servers (block sizes, read-only, simple replies without
// structured ones) and the clear error for each way it can fail: unknown export, refused
// option, shutting down, bad magic, short read, no server, a server that never answers.
import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isReboundError, ReboundError } from '../../src/errors.js';
import { connectNbd } from '../../src/nbd/client/index.js';
import type { ExportProvider } from '../../src/nbd/export.js';
import { NbdServer } from '../../src/nbd/server.js';
import { MiB, type RunningServer, startServer, suiteTempDir, testLogger } from '../helpers/nbd-fixture.js';
import { type PeerProcess, startNbdkit, startQemuNbd } from '../helpers/nbd-peers.js';
import { requireTools } from '../helpers/tools.js';

const code = (c: string, message?: RegExp) => (e: unknown) => {
  assert.ok(isReboundError(e), String(e));
  assert.equal(e.code, c, e.message);
  if (message) assert.match(e.message, message);
  return true;
};

/** A TCP server that sends `bytes` to each client, then closes (or stays silent). */
async function rawServer(bytes: Buffer, close: boolean): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.write(bytes);
    if (close) s.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('NBD client handshake', () => {
  let dir: string;
  let removeDir: () => Promise<void>;
  let ours: RunningServer;
  let qemu: PeerProcess;
  let kit: PeerProcess;

  before(async () => {
    requireTools('qemu-nbd', 'nbdkit');
    ({ dir, remove: removeDir } = await suiteTempDir());
    ours = await startServer();
    const file = path.join(dir, 'disk.raw');
    await writeFile(file, '');
    await truncate(file, 8 * MiB);
    qemu = await startQemuNbd({ path: path.join(dir, 'q.sock') }, ['-f', 'raw', '-x', 'disk', '-r', file]);
    kit = await startNbdkit({ path: path.join(dir, 'k.sock') }, [
      '--filter=exportname',
      'memory',
      '8M',
      'exportname=a',
      'exportname-strict=true',
    ]);
  });
  after(async () => {
    await ours?.close();
    await qemu?.stop();
    await kit?.stop();
    await removeDir?.();
  });

  it('learns size, flags, block sizes and contexts from each server', async () => {
    const dev = await connectNbd({
      port: ours.port,
      exportName: 'vol0',
      metaContexts: ['base:allocation', 'qemu:dirty-bitmap:b0', 'qemu:nothing'],
    });
    assert.equal(dev.sizeBytes, 64 * MiB);
    assert.deepEqual(
      [
        dev.info.minimumBlockBytes,
        dev.info.preferredBlockBytes,
        dev.info.maxPayloadBytes,
        dev.info.blockSizeAdvertised,
      ],
      [1, 4096, 32 * MiB, true],
    );
    assert.deepEqual(dev.metaContexts.sort(), ['base:allocation', 'qemu:dirty-bitmap:b0']);
    assert.equal(dev.info.structuredReplies, true);
    assert.equal(dev.readOnly, false);
    await dev.close();

    const q = await connectNbd({ ...qemu.endpoint, exportName: 'disk' });
    assert.equal(q.sizeBytes, 8 * MiB);
    assert.equal(q.readOnly, true, 'qemu-nbd -r');
    await assert.rejects(q.write(0, Buffer.alloc(512)), code('READ_ONLY'));
    assert.deepEqual(await q.read(0, 4), Buffer.alloc(4));
    await q.close();
  });

  it('a read-only export of ours refuses writes, zeroes and trims with READ_ONLY', async () => {
    const dev = await connectNbd({ port: ours.port, exportName: 'ro' });
    assert.equal(dev.readOnly, true);
    await assert.rejects(dev.write(0, Buffer.alloc(1)), code('READ_ONLY'));
    await assert.rejects(dev.writeZeroes(0, 4096), code('READ_ONLY'));
    await assert.rejects(dev.trim(0, 4096), code('READ_ONLY'));
    await dev.close();
  });

  it('simple replies only (nbdkit --no-sr): reads, writes, zeroes; block status reports allocated', async () => {
    const peer = await startNbdkit({ path: path.join(dir, 'nosr.sock') }, [
      '--no-sr',
      '--mask-handshake=1',
      'memory',
      '4M',
    ]);
    try {
      const dev = await connectNbd({ ...peer.endpoint, exportName: '' });
      assert.equal(dev.info.structuredReplies, false);
      assert.deepEqual(dev.metaContexts, []);
      const data = Buffer.alloc(100_000, 0x5c);
      await Promise.all([dev.write(10, data), dev.write(200_000, data)]);
      await dev.writeZeroes(20, 100);
      const back = await dev.read(0, 300_000);
      assert.deepEqual(back.subarray(10, 20), Buffer.alloc(10, 0x5c));
      assert.deepEqual(back.subarray(20, 120), Buffer.alloc(100));
      assert.deepEqual(back.subarray(200_000, 300_000), data);
      assert.deepEqual(await dev.blockStatus(0, 4096), [
        { offset: 0, length: 4096, hole: false, zero: false },
      ]);
      await dev.close();
    } finally {
      await peer.stop();
    }
  });

  it('a server without flush, FUA or trim (nbdkit eval on a file): writes are durable as acknowledged', async () => {
    const file = path.join(dir, 'eval.img');
    await writeFile(file, '');
    await truncate(file, 4 * MiB);
    const peer = await startNbdkit({ path: path.join(dir, 'eval.sock') }, [
      'eval',
      'get_size=echo 4194304',
      `pread=dd if=${file} skip=$4 count=$3 iflag=count_bytes,skip_bytes status=none`,
      `pwrite=dd of=${file} seek=$4 conv=notrunc oflag=seek_bytes status=none`,
      'can_write=exit 0',
    ]);
    try {
      const dev = await connectNbd({ ...peer.endpoint, exportName: '' });
      assert.deepEqual([dev.info.canFlush, dev.info.canFua, dev.info.canTrim], [false, false, false]);
      await dev.write(4096, Buffer.alloc(8192, 0x21), { fua: true });
      await dev.write(65536, Buffer.alloc(4096, 0x22));
      assert.equal(dev.unflushedBytes, 0, 'nothing to keep: the server has no cache to lose');
      await dev.trim(0, 65536); // advisory, not advertised: nothing sent, nothing changed
      await dev.flush();
      assert.deepEqual(await dev.read(4096, 8192), Buffer.alloc(8192, 0x21));
      assert.deepEqual(await dev.read(65536, 4096), Buffer.alloc(4096, 0x22));
      await dev.close();
    } finally {
      await peer.stop();
    }
  });

  it('an unknown export is NOT_FOUND on our server, qemu-nbd and nbdkit', async () => {
    await assert.rejects(connectNbd({ port: ours.port, exportName: 'nope' }), code('NOT_FOUND', /"nope"/));
    await assert.rejects(connectNbd({ ...qemu.endpoint, exportName: 'nope' }), code('NOT_FOUND'));
    await assert.rejects(connectNbd({ ...kit.endpoint, exportName: 'nope' }), code('NOT_FOUND'));
    const ok = await connectNbd({ ...kit.endpoint, exportName: 'a' });
    await ok.close();
  });

  it('a refused export is NBD_OPTION_REFUSED with the reason; a stopping server SHUTTING_DOWN', async () => {
    let refusal: ReboundError = new ReboundError('VOLUME_FENCED', 'volume v is fenced');
    const provider: ExportProvider = {
      list: () => [{ name: 'v' }],
      open: () => {
        throw refusal;
      },
    };
    const server = new NbdServer({ provider, logger: testLogger() });
    const { port } = await server.listen(0, '127.0.0.1');
    try {
      await assert.rejects(
        connectNbd({ port, exportName: 'v' }),
        code('NBD_OPTION_REFUSED', /GO.*ERR_POLICY.*fenced/),
      );
      refusal = new ReboundError('SHUTTING_DOWN', 'node stopping');
      await assert.rejects(connectNbd({ port, exportName: 'v' }), code('SHUTTING_DOWN', /node stopping/));
    } finally {
      await server.close();
    }
  });

  it('bad magic is NBD_PROTOCOL; a short greeting is NBD_DISCONNECTED saying so', async () => {
    const http = await rawServer(Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'), true);
    // Oldstyle: NBDMAGIC, the cliserv magic, size, flags, 124 zeroes.
    const oldstyle = await rawServer(
      Buffer.concat([Buffer.from('4e42444d414749430000420281861253', 'hex'), Buffer.alloc(136)]),
      true,
    );
    const short = await rawServer(Buffer.from('4e42444d41474943', 'hex'), true);
    try {
      await assert.rejects(connectNbd({ port: http.port, exportName: '' }), code('NBD_PROTOCOL', /greeting/));
      await assert.rejects(connectNbd({ port: oldstyle.port, exportName: '' }), code('NBD_PROTOCOL'));
      await assert.rejects(
        connectNbd({ port: short.port, exportName: '' }),
        code('NBD_DISCONNECTED', /greeting \(short read: 8 bytes/),
      );
    } finally {
      await Promise.all([http.stop(), oldstyle.stop(), short.stop()]);
    }
  });

  it('no server, or one that never answers, is NBD_DISCONNECTED', async () => {
    const closed = await rawServer(Buffer.alloc(0), true);
    const port = closed.port;
    await closed.stop();
    await assert.rejects(connectNbd({ port, exportName: '' }), code('NBD_DISCONNECTED', /cannot connect/));
    const silent = await rawServer(Buffer.alloc(0), false);
    try {
      await assert.rejects(
        connectNbd({ port: silent.port, exportName: '', connectTimeoutMs: 300 }),
        code('NBD_DISCONNECTED', /within 300 ms/),
      );
    } finally {
      await silent.stop();
    }
  });
});
