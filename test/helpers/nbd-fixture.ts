/**
 * Test fixtures for the NBD server: a provider of MemoryDevice exports (one writable
 * with a dirty bitmap the wrapper marks on every write, one read-only), a server on
 * 127.0.0.1 port 0, and helpers to run real clients without blocking the event loop
 * (the server runs in this same process, so spawnSync would deadlock).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BlockSet } from '../../src/block/block-set.js';
import type { BlockDevice, Extent, WriteOptions, ZeroOptions } from '../../src/block/device.js';
import { MemoryDevice } from '../../src/block/memory-device.js';
import type { ExportProvider, NbdExport } from '../../src/nbd/export.js';
import type { NbdLogger } from '../../src/nbd/logger.js';
import { NbdServer, type NbdServerOptions } from '../../src/nbd/server.js';

export const MiB = 1024 * 1024;

/** A device wrapper that marks every written, zeroed or trimmed block in a bitmap. */
export class TrackingDevice implements BlockDevice {
  constructor(
    private readonly inner: BlockDevice,
    readonly dirty: BlockSet,
  ) {}
  get sizeBytes(): number {
    return this.inner.sizeBytes;
  }
  get blockSizeBytes(): number {
    return this.inner.blockSizeBytes;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  read(offset: number, length: number): Promise<Buffer> {
    return this.inner.read(offset, length);
  }
  async write(offset: number, data: Buffer, options?: WriteOptions): Promise<void> {
    await this.inner.write(offset, data, options);
    this.mark(offset, data.length);
  }
  async writeZeroes(offset: number, length: number, options?: ZeroOptions): Promise<void> {
    await this.inner.writeZeroes(offset, length, options);
    this.mark(offset, length);
  }
  async trim(offset: number, length: number, options?: WriteOptions): Promise<void> {
    await this.inner.trim(offset, length, options);
    this.mark(offset, length);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  blockStatus(offset: number, length: number): Promise<Extent[]> {
    return this.inner.blockStatus(offset, length);
  }
  private mark(offset: number, length: number): void {
    if (length === 0) return;
    const g = this.blockSizeBytes;
    const first = Math.floor(offset / g);
    this.dirty.addRange(first, Math.ceil((offset + length) / g) - first);
  }
}

export interface TestExports {
  provider: ExportProvider;
  /** vol0: writable, 64 MiB, 64 KiB blocks, bitmap "b0" marking writes. */
  vol0: TrackingDevice;
  /** ro: read-only, 8 MiB. */
  ro: MemoryDevice;
  /** How many times each export name was opened and released. */
  opened: Map<string, number>;
  released: Map<string, number>;
}

export function testExports(sizeBytes = 64 * MiB): TestExports {
  const blockSizeBytes = 64 * 1024;
  const vol0 = new TrackingDevice(
    new MemoryDevice(sizeBytes, { blockSizeBytes }),
    new BlockSet(Math.ceil(sizeBytes / blockSizeBytes)),
  );
  const ro = new MemoryDevice(8 * MiB, { readOnly: true });
  const opened = new Map<string, number>();
  const released = new Map<string, number>();
  const make = (name: string, device: BlockDevice, bitmaps: Record<string, BlockSet>): NbdExport => {
    opened.set(name, (opened.get(name) ?? 0) + 1);
    return {
      name,
      description: `test export ${name}`,
      device,
      bitmapNames: () => Object.keys(bitmaps),
      bitmap: (b) => bitmaps[b],
      release: () => released.set(name, (released.get(name) ?? 0) + 1),
    };
  };
  const provider: ExportProvider = {
    list: () => [{ name: 'vol0', description: 'test export vol0' }, { name: 'ro' }],
    open: (name) => {
      if (name === 'vol0') return make(name, vol0, { b0: vol0.dirty });
      if (name === 'ro') return make(name, ro, {});
      return undefined;
    },
  };
  return { provider, vol0, ro, opened, released };
}

export interface RunningServer {
  server: NbdServer;
  port: number;
  exports: TestExports;
  uri(exportName: string): string;
  close(): Promise<void>;
}

export async function startServer(
  options: Partial<NbdServerOptions> = {},
  exports = testExports(),
): Promise<RunningServer> {
  const server = new NbdServer({ provider: exports.provider, logger: testLogger(), ...options });
  const { port } = await server.listen(0, '127.0.0.1');
  return {
    server,
    port,
    exports,
    uri: (name) => `nbd://127.0.0.1:${port}/${name}`,
    close: () => server.close(),
  };
}

/** Silent unless NBD_TEST_LOG=1. */
export function testLogger(): NbdLogger {
  const on = process.env.NBD_TEST_LOG === '1';
  const log = (level: string) => (obj: object, msg: string) => {
    if (on) console.error(`[${level}] ${msg} ${JSON.stringify(obj)}`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** Tools are looked up with PATH=/usr/bin first, where the Debian packages put them (nbdsh needs it). */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rebound-nbd-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A temp dir that lives for a whole suite: call `remove` in `after`. */
export async function suiteTempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rebound-nbd-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Poll `cond` until true (the server sees a client's close a moment after the client exits). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
