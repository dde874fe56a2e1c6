/**
 * The BlockDevice conformance suite (STYLE.md point 5): every implementation of
 * src/block/device.ts runs these, so "a device" means the same thing everywhere.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BlockDevice } from '../../src/block/device.js';
import { isReboundError } from '../../src/errors.js';

export interface DeviceFixture {
  device: BlockDevice;
  close(): Promise<void>;
}

/** `open(sizeBytes)` returns a fresh, writable, never-written device of that size. */
export function deviceConformance(name: string, open: (sizeBytes: number) => Promise<DeviceFixture>): void {
  const size = 4 * 1024 * 1024;

  async function withDevice(fn: (d: BlockDevice) => Promise<void>): Promise<void> {
    const fx = await open(size);
    try {
      await fn(fx.device);
    } finally {
      await fx.close();
    }
  }

  describe(`${name}: BlockDevice conformance`, () => {
    it('reads zeros where nothing was written, and reports a hole there', () =>
      withDevice(async (d) => {
        assert.equal(d.sizeBytes, size);
        assert.deepEqual(await d.read(12345, 70000), Buffer.alloc(70000));
        const ext = await d.blockStatus(0, size);
        assert.equal(ext[0].offset, 0);
        assert.ok(ext.every((e) => e.zero));
      }));

    it('reads back writes at unaligned offsets, across block boundaries', () =>
      withDevice(async (d) => {
        const data = Buffer.alloc(200_000);
        for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
        await d.write(65536 - 1000, data);
        await d.write(3 * 1024 * 1024 + 17, Buffer.from('hello'));
        assert.deepEqual(await d.read(65536 - 1000, data.length), data);
        assert.equal((await d.read(3 * 1024 * 1024 + 17, 5)).toString(), 'hello');
        assert.deepEqual(await d.read(0, 65536 - 1000), Buffer.alloc(65536 - 1000));
      }));

    it('zeroes read back as zeros, with or without holes', () =>
      withDevice(async (d) => {
        await d.write(0, Buffer.alloc(262144, 0xaa));
        await d.writeZeroes(1000, 100_000);
        await d.writeZeroes(131072, 65536, { noHole: true });
        const back = await d.read(0, 262144);
        assert.deepEqual(back.subarray(1000, 101_000), Buffer.alloc(100_000));
        assert.deepEqual(back.subarray(131072, 196608), Buffer.alloc(65536));
        assert.equal(back[999], 0xaa);
        assert.equal(back[101_000], 0xaa);
        assert.equal(back[196608], 0xaa);
      }));

    it('a trimmed range reads as its old data or zeros', () =>
      withDevice(async (d) => {
        await d.write(0, Buffer.alloc(131072, 0x33));
        await d.trim(0, 131072);
        const back = await d.read(0, 131072);
        for (const byte of back) assert.ok(byte === 0 || byte === 0x33);
      }));

    it('block status covers the request with contiguous non-empty extents', () =>
      withDevice(async (d) => {
        await d.write(65536 * 3, Buffer.alloc(65536, 1));
        const ext = await d.blockStatus(0, size);
        assert.equal(ext[0].offset, 0);
        let at = 0;
        for (const e of ext) {
          assert.equal(e.offset, at);
          assert.ok(e.length > 0);
          if (e.hole) assert.ok(e.zero);
          at += e.length;
        }
        assert.ok(at > 0);
        const data = ext.find((e) => e.offset <= 65536 * 3 && e.offset + e.length > 65536 * 3);
        if (data) assert.equal(data.zero, false);
      }));

    it('rejects requests past the end with OUT_OF_RANGE and changes nothing', () =>
      withDevice(async (d) => {
        await assert.rejects(d.read(size - 10, 11), (e) => isReboundError(e, 'OUT_OF_RANGE'));
        await assert.rejects(d.write(size - 1, Buffer.alloc(2, 9)), (e) => isReboundError(e, 'OUT_OF_RANGE'));
        await assert.rejects(d.writeZeroes(size, 1), (e) => isReboundError(e, 'OUT_OF_RANGE'));
        assert.deepEqual(await d.read(size - 1, 1), Buffer.alloc(1));
        await d.read(size, 0);
      }));

    it('survives many concurrent non-overlapping writes', () =>
      withDevice(async (d) => {
        const writes = [];
        for (let i = 0; i < 64; i++) writes.push(d.write(i * 4096 * 7, Buffer.alloc(4096, i + 1)));
        await Promise.all(writes);
        await d.flush();
        for (let i = 0; i < 64; i++)
          assert.deepEqual(await d.read(i * 4096 * 7, 4096), Buffer.alloc(4096, i + 1));
      }));
  });
}
