/** applyEntries onto MemoryDevices: order, markers across two volumes, replay after a lost ack. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryDevice } from '../../../src/block/index.js';
import { isReboundError } from '../../../src/errors.js';
import { applyEntries, Journal, type JournalRecord } from '../../../src/journal/index.js';
import { withTempDir } from './helpers.js';

const SIZE = 1024 * 1024;
const fill = (byte: number, n = 4096) => Buffer.alloc(n, byte);

function devices() {
  const a = new MemoryDevice(SIZE, { blockSizeBytes: 4096 });
  const b = new MemoryDevice(SIZE, { blockSizeBytes: 4096 });
  const byId = new Map([
    ['vol-a', a],
    ['vol-b', b],
  ]);
  return { a, b, lookup: (id: string) => byId.get(id) };
}

/** A job on two volumes: two consistent points, then writes after the last one. */
async function journalOfAJob(dir: string): Promise<JournalRecord[]> {
  const j = await Journal.open(dir);
  await j.append({ type: 'write', volumeId: 'vol-a', offset: 0, data: fill(1) });
  await j.append({ type: 'write', volumeId: 'vol-b', offset: 4096, data: fill(2) });
  await j.append({ type: 'marker', label: 'p1' });
  await j.append({ type: 'write', volumeId: 'vol-a', offset: 0, data: fill(3, 8192) }); // overlaps seq 1
  await j.append({ type: 'zero', volumeId: 'vol-b', offset: 4096, length: 4096 });
  await j.append({ type: 'marker', label: 'p2' });
  await j.append({ type: 'write', volumeId: 'vol-a', offset: 65536, data: fill(4) });
  await j.append({ type: 'trim', volumeId: 'vol-b', offset: 0, length: 65536 });
  const records = await j.read(1);
  await j.close();
  return records;
}

describe('applyEntries', () => {
  it('applies only up to a marker, then the rest; the last seq applied is returned', () =>
    withTempDir(async (dir) => {
      const records = await journalOfAJob(dir);
      const { a, b, lookup } = devices();
      assert.equal(await applyEntries(records, lookup, { uptoMarker: 'p1' }), 3);
      assert.deepEqual(await a.read(0, 8192), Buffer.concat([fill(1), fill(0)]));
      assert.deepEqual(await b.read(4096, 4096), fill(2));

      // `true`: up to the last marker among the entries; writes after it wait.
      assert.equal(await applyEntries(records.slice(3), lookup, { uptoMarker: true }), 6);
      assert.deepEqual(await a.read(0, 8192), fill(3, 8192), 'the later overlapping write won');
      assert.deepEqual(await b.read(4096, 4096), fill(0));
      assert.deepEqual(await a.read(65536, 4096), fill(0), 'nothing after marker p2');

      // No marker among these entries: nothing is applied.
      assert.equal(await applyEntries(records.slice(6), lookup, { uptoMarker: true }), 0);
      assert.deepEqual(await a.read(65536, 4096), fill(0));
      assert.equal(await applyEntries(records.slice(6), lookup), 8);
      assert.deepEqual(await a.read(65536, 4096), fill(4));
    }));

  it('is idempotent: entries sent again after a lost ack leave the same bytes', () =>
    withTempDir(async (dir) => {
      const records = await journalOfAJob(dir);
      const once = devices();
      await applyEntries(records, once.lookup);
      const twice = devices();
      await applyEntries(records.slice(0, 5), twice.lookup);
      await applyEntries(records.slice(2), twice.lookup); // the ack of 3..5 was lost
      assert.deepEqual(await twice.a.read(0, SIZE), await once.a.read(0, SIZE));
      assert.deepEqual(await twice.b.read(0, SIZE), await once.b.read(0, SIZE));
    }));

  it('one device takes the entries of a one-volume journal', () =>
    withTempDir(async (dir) => {
      const records = (await journalOfAJob(dir)).filter((r) => r.type !== 'zero' && r.type !== 'trim');
      const dev = new MemoryDevice(SIZE);
      await applyEntries(
        records.filter((r) => r.type === 'marker' || r.volumeId === 'vol-a'),
        dev,
      );
      assert.deepEqual(await dev.read(0, 8192), fill(3, 8192));
    }));

  it('checks every volume before writing anything, and the order', () =>
    withTempDir(async (dir) => {
      const records = await journalOfAJob(dir);
      const a = new MemoryDevice(SIZE);
      await assert.rejects(
        applyEntries(records, (id) => (id === 'vol-a' ? a : undefined)),
        (err) => isReboundError(err, 'NOT_FOUND') && /vol-b/.test(String(err)),
      );
      assert.equal(a.allocatedBlocks, 0, 'nothing written');
      await assert.rejects(applyEntries([records[1], records[0]], a), (err) =>
        isReboundError(err, 'INVALID_ARGUMENT'),
      );
      const tiny = new MemoryDevice(4096);
      await assert.rejects(applyEntries(records.slice(0, 2), tiny), (err) =>
        isReboundError(err, 'OUT_OF_RANGE'),
      );
    }));
});
