// Requires: qemu-nbd (qemu-utils), nbdkit. Feature: the NBD client is a BlockDevice: the
// shared conformance suite against our own server, qemu-nbd on a raw file, nbdkit memory,
// nbdkit with a 4 KiB minimum and 64 KiB maximum block size (alignment, splitting), and
// nbdkit without WRITE_ZEROES (written zeros instead).
import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before } from 'node:test';
import { isReboundError } from '../../src/errors.js';
import { connectNbd } from '../../src/nbd/client/device.js';
import { deviceConformance } from '../helpers/device-conformance.js';
import { startServer, suiteTempDir, testExports } from '../helpers/nbd-fixture.js';
import { type Endpoint, startNbdkit, startQemuNbd } from '../helpers/nbd-peers.js';
import { requireTools } from '../helpers/tools.js';

let dir: string;
let removeDir: () => Promise<void>;
let serial = 0;
before(async () => {
  requireTools('qemu-nbd', 'nbdkit');
  ({ dir, remove: removeDir } = await suiteTempDir());
});
after(() => removeDir?.());

const sock = (): Endpoint => ({ path: path.join(dir, `s${++serial}.sock`) });

deviceConformance('NBD client -> our server (MemoryDevice)', async (sizeBytes) => {
  const srv = await startServer({}, testExports(sizeBytes));
  const device = await connectNbd({ port: srv.port, exportName: 'vol0' });
  return {
    device,
    close: async () => {
      await device.close();
      await srv.close();
    },
  };
});

deviceConformance('NBD client -> qemu-nbd (raw file)', async (sizeBytes) => {
  const file = path.join(dir, `disk${++serial}.raw`);
  await writeFile(file, '');
  await truncate(file, sizeBytes);
  const peer = await startQemuNbd(sock(), ['-f', 'raw', '-x', 'disk', '--discard=unmap', file]);
  const device = await connectNbd({ ...peer.endpoint, exportName: 'disk' });
  return {
    device,
    close: async () => {
      await device.close();
      await peer.stop();
    },
  };
});

deviceConformance('NBD client -> nbdkit memory', async (sizeBytes) => {
  const peer = await startNbdkit(sock(), ['memory', String(sizeBytes)]);
  const device = await connectNbd({ ...peer.endpoint, exportName: '' });
  return {
    device,
    close: async () => {
      await device.close();
      await peer.stop();
    },
  };
});

deviceConformance('NBD client -> nbdkit memory, blocks of 4 KiB to 64 KiB', async (sizeBytes) => {
  const peer = await startNbdkit(sock(), [
    '--filter=blocksize-policy',
    'memory',
    String(sizeBytes),
    'blocksize-minimum=4096',
    'blocksize-preferred=4096',
    'blocksize-maximum=65536',
    'blocksize-error-policy=error',
  ]);
  const device = await connectNbd({ ...peer.endpoint, exportName: '' });
  return {
    device,
    close: async () => {
      await device.close();
      await peer.stop();
    },
  };
});

// No WRITE_ZEROES advertised: zeroes become written zeros; a fast zero is refused.
deviceConformance('NBD client -> nbdkit memory without WRITE_ZEROES', async (sizeBytes) => {
  const peer = await startNbdkit(sock(), ['--filter=nozero', 'memory', String(sizeBytes), 'zeromode=none']);
  const device = await connectNbd({ ...peer.endpoint, exportName: '' });
  assert.equal(device.info.canWriteZeroes, false);
  return {
    device,
    close: async () => {
      await assert.rejects(device.writeZeroes(0, 4096, { fastOnly: true }), (e) =>
        isReboundError(e, 'NOT_SUPPORTED'),
      );
      await device.close();
      await peer.stop();
    },
  };
});
