/** PairSink: journal entries in call order; a full journal falls back to marking blocks, never to an error. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ReboundError } from '../../../src/errors.js';
import { Journal } from '../../../src/journal/index.js';
import { PairSink } from '../../../src/replication/index.js';

const BS = 65536;

async function withJournal(fn: (j: Journal) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rebound-sink-'));
  const j = await Journal.open(join(dir, 'journal'), { segmentBytes: 64 * 1024, maxBytes: 128 * 1024 });
  try {
    await fn(j);
  } finally {
    await j.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

describe('PairSink', () => {
  it('appends in call order, durable for FUA; marks blocks once the journal is full; journals again after the take', async () => {
    await withJournal(async (journal) => {
      let wakes = 0;
      const failures: ReboundError[] = [];
      const sink = new PairSink(journal, 'S:1', BS, () => 64 * BS, {
        wake: () => wakes++,
        failed: (e) => failures.push(e),
      });
      await Promise.all([
        sink.write(0, Buffer.alloc(1000, 1), false),
        sink.zero(5000, 100, true),
        sink.write(100, Buffer.alloc(10, 2), false),
      ]);
      const first = await journal.read(1);
      assert.deepEqual(
        first.map((e) => [e.seq, e.type, e.type === 'marker' ? 0 : e.offset]),
        [
          [1, 'write', 0],
          [2, 'zero', 5000],
          [3, 'write', 100],
        ],
      );
      assert.ok(journal.stats().durableSeq >= 2, 'the FUA zero is durable');
      // 16 KiB writes until the 128 KiB journal refuses them: none of the calls fails.
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 16; i++) writes.push(sink.write(i * BS + 10, Buffer.alloc(16 * 1024, i), false));
      await Promise.all(writes);
      assert.ok(sink.fullCount > 0 && sink.hasOverflow());
      const marked = sink.overflowBlocks;
      assert.ok(marked > 0 && marked < 16);
      // While marking, everything is marked, even what would fit now.
      const before = journal.stats().lastSeq;
      await sink.write(40 * BS, Buffer.alloc(10), true);
      assert.equal(journal.stats().lastSeq, before);
      assert.equal(sink.overflowBlocks, marked + 1);
      // The pair ships and acknowledges everything, takes the marks: journaling again.
      await journal.ack(journal.stats().lastSeq);
      const set = sink.takeOverflow()!;
      assert.equal(set.count(), marked + 1);
      assert.ok(set.has(40));
      assert.equal(sink.hasOverflow(), false);
      await sink.write(0, Buffer.alloc(10), false);
      assert.equal(journal.stats().lastSeq, before + 1);
      assert.deepEqual(failures, []);
      assert.ok(wakes > 0);
    });
  });

  it('a failed journal fails the pair, never the write', async () => {
    await withJournal(async (journal) => {
      const failures: ReboundError[] = [];
      const sink = new PairSink(journal, 'S:1', BS, () => 8 * BS, {
        wake: () => {},
        failed: (e) => failures.push(e),
      });
      await journal.close(); // every append now rejects SHUTTING_DOWN
      await sink.write(BS, Buffer.alloc(10), true);
      await sink.flush();
      assert.equal(failures.length, 1);
      assert.equal(failures[0].code, 'SHUTTING_DOWN');
      assert.ok(sink.hasOverflow());
    });
  });
});
