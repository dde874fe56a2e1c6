/** The journal on temp files: order, group commit, ack and trim, seqs never reused, the size limit. */
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isReboundError, isRetryable } from '../../../src/errors.js';
import { Journal, type JournalEntry } from '../../../src/journal/index.js';
import { entryOf, withTempDir, writeEntry } from './helpers.js';

const small = { segmentBytes: 4096, maxBytes: 1024 * 1024 };
const code = (c: string) => (err: unknown) => isReboundError(err) && err.code === c;
const segmentFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.rbj')).sort();

/** A mix of every type, sizes from 1 byte to 10 KiB, two volumes. */
function mixed(n: number): JournalEntry[] {
  const out: JournalEntry[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 17 === 16) out.push({ type: 'marker', label: `point-${i}` });
    else if (i % 13 === 12) out.push({ type: 'zero', volumeId: 'vol-b', offset: i * 512, length: 8192 });
    else if (i % 11 === 10) out.push({ type: 'trim', volumeId: 'vol-a', offset: i * 4096, length: 65536 });
    else out.push(writeEntry(i, 1 + ((i * 2654435761) % 10240), i % 2 ? 'vol-a' : 'vol-b'));
  }
  return out;
}

describe('journal', () => {
  it('hands out seqs in call order and reads every entry back in order, in pages', () =>
    withTempDir(async (dir) => {
      const j = await Journal.open(dir, { segmentBytes: 64 * 1024, maxBytes: 8 * 1024 * 1024 });
      const entries = mixed(300);
      const seqs = await Promise.all(entries.map((e) => j.append(e)));
      assert.deepEqual(
        seqs,
        entries.map((_, i) => i + 1),
      );
      const all = await j.read(1, { maxEntries: 1000, maxBytes: 64 * 1024 * 1024 });
      assert.deepEqual(all.map(entryOf), entries);
      assert.deepEqual(
        all.map((r) => r.seq),
        seqs,
      );
      // Small pages: at most maxEntries, never over maxBytes unless one entry alone is.
      const paged: JournalEntry[] = [];
      for (let from = 1; from <= 300; ) {
        const page = await j.read(from, { maxEntries: 7, maxBytes: 16 * 1024 });
        assert.ok(page.length >= 1 && page.length <= 7);
        assert.equal(page[0].seq, from);
        paged.push(...page.map(entryOf));
        from = page[page.length - 1].seq + 1;
      }
      assert.deepEqual(paged, entries);
      assert.deepEqual(await j.read(301), []);
      const st = j.stats();
      assert.equal(st.lastSeq, 300);
      assert.equal(st.unackedEntries, 300);
      assert.equal(st.segments, (await segmentFiles(dir)).length);
      assert.ok(st.segments > 10, 'small segments: many of them');
      await j.close();
    }));

  it('group commit: concurrent durable appends share fdatasync rounds', () =>
    withTempDir(async (dir) => {
      const j = await Journal.open(dir);
      await j.append(writeEntry(0), { durable: true });
      const before = j.stats().syncRounds;
      const seqs = await Promise.all(
        Array.from({ length: 64 }, (_, i) => j.append(writeEntry(i), { durable: true })),
      );
      const st = j.stats();
      assert.equal(st.durableSeq, Math.max(...seqs));
      assert.ok(st.syncRounds - before <= 3, `64 durable appends took ${st.syncRounds - before} fdatasyncs`);
      // Written is not durable: a plain append moves writtenSeq only, sync() moves durableSeq.
      const s = await j.append(writeEntry(99));
      assert.equal(j.stats().writtenSeq, s);
      assert.equal(j.stats().durableSeq, s - 1);
      assert.equal((await j.read(s, { includeNotDurable: true })).length, 1);
      assert.equal(j.stats().durableSeq, s - 1, 'reading written entries does not sync them');
      await j.sync();
      assert.equal(j.stats().durableSeq, s);
      // By default read() ships durable entries only, syncing first when it must.
      const t = await j.append(writeEntry(100));
      assert.deepEqual(
        (await j.read(s)).map((r) => r.seq),
        [s, t],
      );
      assert.equal(j.stats().durableSeq, t);
      const rounds = j.stats().syncRounds;
      await j.sync(); // nothing new: no fdatasync
      assert.equal(j.stats().syncRounds, rounds);
      await j.close();
    }));

  it('ack persists and trims whole segments; trimmed entries are OUT_OF_RANGE', () =>
    withTempDir(async (dir) => {
      const j = await Journal.open(dir, small);
      for (let i = 1; i <= 40; i++) await j.append(writeEntry(i, 1000));
      const filesBefore = (await segmentFiles(dir)).length;
      await j.ack(20);
      let st = j.stats();
      assert.equal(st.ackedSeq, 20);
      assert.equal(st.unackedEntries, 20);
      assert.ok(st.segments < filesBefore);
      assert.equal(st.segments, (await segmentFiles(dir)).length, 'stats match the files');
      assert.ok(st.firstSeq <= 21 && st.firstSeq > 15, `first seq ${st.firstSeq}`);
      assert.deepEqual(
        (await j.read(21, { maxEntries: 100 })).map((r) => r.seq),
        Array.from({ length: 20 }, (_, i) => 21 + i),
      );
      await assert.rejects(j.read(3), code('OUT_OF_RANGE'));
      await j.ack(10); // older: nothing changes
      assert.equal(j.stats().ackedSeq, 20);
      await assert.rejects(j.ack(41), code('INVALID_ARGUMENT'));

      await j.ack(40);
      st = j.stats();
      assert.equal(st.unackedEntries, 0);
      assert.equal(st.unackedBytes, 0);
      assert.equal(st.segments, 1, 'only the newest segment is left');
      assert.deepEqual(
        await segmentFiles(dir),
        ['seg-00000000000000000041.rbj'],
        'rolled to a fresh one at seq 41',
      );
      assert.equal(st.firstSeq, 41);
      assert.equal(st.lastSeq, 40);
      await j.close();

      // After restart: the ack is kept, and seqs go on after the highest ever used.
      const k = await Journal.open(dir, small);
      assert.equal(k.stats().ackedSeq, 40);
      assert.equal(await k.append(writeEntry(41)), 41);
      await k.close();
    }));

  it('never reuses a seq after a restart, with or without acks', () =>
    withTempDir(async (dir) => {
      const j = await Journal.open(dir, small);
      for (let i = 1; i <= 5; i++) await j.append(writeEntry(i, 100));
      await j.close();
      let k = await Journal.open(dir, small);
      assert.equal(k.stats().lastSeq, 5);
      assert.equal(await k.append(writeEntry(6, 100)), 6);
      // Trim everything (a small newest segment is kept: it carries the next seq).
      await k.ack(6);
      await k.close();
      k = await Journal.open(dir, small);
      assert.deepEqual(await k.read(7), []);
      assert.equal(await k.append(writeEntry(7, 100)), 7);
      await k.ack(7);
      await k.close();
      k = await Journal.open(dir, small);
      assert.equal(await k.append(writeEntry(8, 100)), 8);
      assert.equal((await k.read(8))[0].seq, 8);
      await k.close();
    }));

  it('an entry bigger than a segment gets a segment of its own', () =>
    withTempDir(async (dir) => {
      const j = await Journal.open(dir, small);
      await j.append(writeEntry(1, 100));
      await j.append(writeEntry(2, 20_000));
      await j.append(writeEntry(3, 100));
      const files = await segmentFiles(dir);
      assert.equal(files.length, 3);
      assert.ok((await stat(join(dir, files[1]))).size > 20_000);
      assert.deepEqual(
        (await j.read(1)).map((r) => (r.type === 'write' ? r.data.length : 0)),
        [100, 20_000, 100],
      );
      await j.close();
    }));

  it('refuses appends past maxBytes with JOURNAL_FULL until the peer acknowledges', () =>
    withTempDir(async (dir) => {
      const j = await Journal.open(dir, { segmentBytes: 8192, maxBytes: 32 * 1024 });
      let last = 0;
      let full: unknown = null;
      for (let i = 1; i < 100 && !full; i++) {
        try {
          last = await j.append(writeEntry(i, 2000));
        } catch (err) {
          full = err;
        }
      }
      assert.ok(isReboundError(full, 'JOURNAL_FULL'), String(full));
      assert.ok(isRetryable(full));
      assert.match((full as Error).message, /acknowledgement/);
      const st = j.stats();
      assert.equal(st.lastSeq, last, 'a refused append takes no seq');
      assert.ok(st.usedBytes <= st.maxBytes);
      // Concurrent appends are counted before they are written.
      const burst = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => j.append(writeEntry(i, 2000))),
      );
      assert.ok(burst.every((r) => r.status === 'rejected'));
      await j.ack(last);
      assert.equal(await j.append(writeEntry(last + 1, 2000)), last + 1);
      assert.ok(j.stats().usedBytes <= j.stats().maxBytes);
      await j.close();
    }));

  it('a failed write fails the journal for good (no fsync retry); reopening goes on', () =>
    withTempDir(async (dir) => {
      const j = await Journal.open(dir, small);
      await j.append(writeEntry(1), { durable: true });
      // Pull the file out from under it: the next write fails with EBADF.
      await (j as unknown as { fh: { close(): Promise<void> } }).fh.close();
      await assert.rejects(j.append(writeEntry(2)), code('IO_ERROR'));
      await assert.rejects(j.append(writeEntry(3)), code('IO_ERROR'));
      await assert.rejects(j.sync(), code('IO_ERROR'));
      assert.equal((await j.read(1)).length, 1, 'what is durable can still be read');
      await j.close().catch(() => {});
      const k = await Journal.open(dir, small);
      assert.deepEqual(
        (await k.read(1)).map((r) => r.seq),
        [1],
      );
      assert.ok((await k.append(writeEntry(4))) >= 2);
      await k.close();
    }));

  it('checks its options', () =>
    withTempDir(async (dir) => {
      await assert.rejects(Journal.open(dir, { segmentBytes: 100 }), code('INVALID_ARGUMENT'));
      await assert.rejects(
        Journal.open(dir, { segmentBytes: 8192, maxBytes: 8192 }),
        code('INVALID_ARGUMENT'),
      );
      await assert.rejects(Journal.open(join(dir, 'none'), { create: false }), code('NOT_FOUND'));
    }));

  it('close makes everything durable and refuses later appends; destroy deletes it all', () =>
    withTempDir(async (dir) => {
      const jdir = join(dir, 'pair-1');
      const j = await Journal.open(jdir, small);
      const p = j.append(writeEntry(1));
      await j.close();
      assert.equal(await p, 1);
      assert.equal(j.stats().durableSeq, 1);
      await assert.rejects(j.append(writeEntry(2)), code('SHUTTING_DOWN'));
      await assert.rejects(j.read(1), code('SHUTTING_DOWN'));
      await j.close(); // twice is fine
      const k = await Journal.open(jdir, small);
      await k.append(writeEntry(2));
      await k.destroy();
      assert.deepEqual(await readdir(dir), []);
    }));
});
