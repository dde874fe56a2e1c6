/**
 * The journal hook of the volume write path (types.ts JournalSink): what a pair's journal
 * sees of a volume's writes, zeroes and trims, in which order, and when the request is
 * acknowledged.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryDevice } from '../../../src/block/index.js';
import { isReboundError } from '../../../src/errors.js';
import type { JournalSink } from '../../../src/volume/index.js';
import { BS, MiB, pattern, tempStorage } from './helpers.js';

type Call =
  | { op: 'write'; offset: number; data: Buffer; fua: boolean }
  | { op: 'zero'; offset: number; length: number; fua: boolean }
  | { op: 'flush' };

/** Records calls in call order (as a journal assigns seqs); each call settles when `gate` lets it. */
class RecordingSink implements JournalSink {
  readonly calls: Call[] = [];
  gate: Promise<void> = Promise.resolve();

  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    this.calls.push({ op: 'write', offset, data: Buffer.from(data), fua });
    return this.gate;
  }
  zero(offset: number, length: number, fua: boolean): Promise<void> {
    this.calls.push({ op: 'zero', offset, length, fua });
    return this.gate;
  }
  flush(): Promise<void> {
    this.calls.push({ op: 'flush' });
    return this.gate;
  }

  /** Replay the write and zero calls in order onto `dev`. */
  async replay(dev: MemoryDevice): Promise<void> {
    for (const c of this.calls) {
      if (c.op === 'write') await dev.write(c.offset, c.data);
      else if (c.op === 'zero') await dev.writeZeroes(c.offset, c.length);
    }
  }
}

const code = (c: string) => (e: unknown) => isReboundError(e) && e.code === c;

describe('journal hook', () => {
  it('passes overlapping concurrent writes in the order the volume applied them; a replay is identical', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 4 * MiB);
      const sink = new RecordingSink();
      s.attachJournal('v', sink);
      const host = s.hostDevice('v');
      // Many overlapping writes at once: partial blocks, across block edges, first writes
      // (copy a whole block) and in-place ones, so they race inside the data path.
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 60; i++) {
        const offset = ((i * 7919) % 5) * 20_000 + (i % 3) * 4096;
        writes.push(host.write(offset, pattern(BS / 2 + (i % 4) * 8192, i)));
      }
      await Promise.all(writes);
      assert.equal(sink.calls.length, 60);
      const copy = new MemoryDevice(4 * MiB, { blockSizeBytes: BS });
      await sink.replay(copy);
      assert.deepEqual(await copy.read(0, 4 * MiB), await host.read(0, 4 * MiB));
    } finally {
      await t.cleanup();
    }
  });

  it('acknowledges a write only once the sink is done too; FUA and flush reach the sink', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 4 * MiB);
      const sink = new RecordingSink();
      let open!: () => void;
      sink.gate = new Promise((r) => {
        open = r;
      });
      s.attachJournal('v', sink);
      const host = s.hostDevice('v');
      let done = false;
      const w = host.write(0, pattern(4096, 1), { fua: true }).then(() => {
        done = true;
      });
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(done, false, 'the write waits for the sink');
      assert.equal(sink.calls.length, 1);
      assert.deepEqual(
        { ...sink.calls[0], data: undefined },
        { op: 'write', offset: 0, data: undefined, fua: true },
      );
      open();
      await w;
      assert.equal(done, true);
      await host.flush();
      assert.deepEqual(sink.calls[1], { op: 'flush' });
      await host.write(8192, pattern(100, 2));
      assert.equal((sink.calls[2] as { fua: boolean }).fua, false);
    } finally {
      await t.cleanup();
    }
  });

  it('journals what a trim did: whole blocks as zeros, ignored parts not at all; zeroes as asked', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      const size = 4 * BS + 4096; // the last block is partial
      await s.createVolume('v', size);
      const host = s.hostDevice('v');
      await host.write(0, pattern(size, 3));
      const sink = new RecordingSink();
      s.attachJournal('v', sink);
      await host.trim(100, 1000); // inside one block: ignored
      assert.equal(sink.calls.length, 0);
      await host.trim(BS - 10, 2 * BS + 20); // partial head, blocks 1 and 2 whole, partial tail
      assert.deepEqual(sink.calls[0], { op: 'zero', offset: BS, length: 2 * BS, fua: false });
      await host.trim(3 * BS + 5, size - 3 * BS - 5, { fua: true }); // to the end: the last block counts
      assert.deepEqual(sink.calls[1], { op: 'zero', offset: 4 * BS, length: 4096, fua: true });
      await host.writeZeroes(10, 3 * BS); // partial and whole blocks: exactly the range
      assert.deepEqual(sink.calls[2], { op: 'zero', offset: 10, length: 3 * BS, fua: false });
      // A fast zero the volume refuses changes nothing and passes nothing.
      await assert.rejects(host.writeZeroes(3 * BS + 7, 100, { fastOnly: true }), code('NOT_SUPPORTED'));
      assert.equal(sink.calls.length, 3);
      await host.trim(0, BS);
      await host.write(BS + 5, Buffer.from('after'));
      // Replaying the calls onto a copy of the contents at the attach ends identical.
      const copy = new MemoryDevice(size, { blockSizeBytes: BS });
      await copy.write(0, pattern(size, 3));
      await sink.replay(copy);
      assert.deepEqual(await copy.read(0, size), await host.read(0, size));
    } finally {
      await t.cleanup();
    }
  });

  it('journals engine writes too; detach stops it; one sink per volume; delete is BUSY while attached', async () => {
    const t = await tempStorage();
    try {
      const s = t.storage;
      await s.createVolume('v', 4 * MiB);
      const sink = new RecordingSink();
      s.attachJournal('v', sink);
      s.attachJournal('v', sink); // the same sink again: a no-op
      assert.throws(() => s.attachJournal('v', new RecordingSink()), code('BUSY'));
      assert.throws(() => s.attachJournal('nope', new RecordingSink()), code('NOT_FOUND'));
      await s.device('v').write(0, pattern(100, 4));
      assert.equal(sink.calls.length, 1);
      await assert.rejects(s.deleteVolume('v'), code('BUSY'));
      s.detachJournal('v');
      s.detachJournal('v'); // idempotent
      await s.hostDevice('v').write(0, pattern(100, 5));
      await s.hostDevice('v').flush();
      assert.equal(sink.calls.length, 1, 'nothing after the detach');
      await s.deleteVolume('v');
    } finally {
      await t.cleanup();
    }
  });
});
