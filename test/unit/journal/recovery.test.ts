/**
 * Recovery at open: a torn tail (what a crash leaves) is cut off, at any byte; damage
 * anywhere else is JOURNAL_CORRUPT naming the file and offset, never skipped.
 */
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isReboundError } from '../../../src/errors.js';
import { Journal, type JournalEntry } from '../../../src/journal/index.js';
import { recordBytes } from '../../../src/journal/record.js';
import { entryOf, withTempDir, writeEntry } from './helpers.js';

const opts = { segmentBytes: 256 * 1024, maxBytes: 4 * 1024 * 1024 };

async function build(dir: string, entries: JournalEntry[], options = opts): Promise<void> {
  const j = await Journal.open(dir, options);
  for (const e of entries) await j.append(e);
  await j.close();
}

async function segments(dir: string): Promise<string[]> {
  return (await readdir(dir))
    .filter((n) => n.endsWith('.rbj'))
    .sort()
    .map((n) => join(dir, n));
}

async function readAll(dir: string, options = opts) {
  const j = await Journal.open(dir, options);
  try {
    return { records: await j.read(1, { maxEntries: 100_000, maxBytes: 2 ** 30 }), journal: j };
  } finally {
    await j.close();
  }
}

function corruptAt(file: string, offset?: number) {
  return (err: unknown) =>
    isReboundError(err, 'JOURNAL_CORRUPT') &&
    err.message.includes(file) &&
    err.detail?.file === file &&
    (offset === undefined || err.detail?.offset === offset);
}

describe('journal recovery', () => {
  it('a torn last record, cut at every byte, leaves exactly the records before it', () =>
    withTempDir(async (dir) => {
      const entries = [
        ...Array.from({ length: 9 }, (_, i) => writeEntry(i, 500 + i)),
        { type: 'marker', label: 'm' } as JournalEntry,
        writeEntry(10, 20), // small, so every byte of its header and data is a cut point
      ];
      await build(dir, entries);
      const [file] = await segments(dir);
      const whole = await readFile(file);
      const lastStart = whole.length - recordBytes(entries[10]);
      for (let cut = lastStart; cut < whole.length; cut++) {
        await writeFile(file, whole.subarray(0, cut));
        const j = await Journal.open(dir, opts);
        const got = await j.read(1, { maxEntries: 100 });
        assert.deepEqual(got.map(entryOf), entries.slice(0, 10), `cut at ${cut}`);
        assert.equal(j.repairs.length, cut > lastStart ? 1 : 0);
        // The journal goes on after the cut (seq 11 was never written whole, so never read).
        if (cut % 8 === 0) assert.equal(await j.append(writeEntry(11, 10)), 11);
        await j.close();
      }
    }));

  it('a tear across the last writes of a batch of big records (sampled offsets)', () =>
    withTempDir(async (dir) => {
      const entries = Array.from({ length: 6 }, (_, i) => writeEntry(i, 65536));
      await build(dir, entries, { segmentBytes: 1024 * 1024, maxBytes: 4 * 1024 * 1024 });
      const [file] = await segments(dir);
      const whole = await readFile(file);
      const size = recordBytes(entries[0]);
      const firstCut = whole.length - 3 * size;
      for (let cut = firstCut; cut < whole.length; cut += 2999) {
        await writeFile(file, whole.subarray(0, cut));
        const { records } = await readAll(dir);
        const whole_records = 3 + Math.floor((cut - firstCut) / size);
        assert.deepEqual(records.map(entryOf), entries.slice(0, whole_records), `cut at ${cut}`);
      }
    }));

  it('zeros after the last record (an extended file) are a torn tail', () =>
    withTempDir(async (dir) => {
      const entries = [writeEntry(1), writeEntry(2)];
      await build(dir, entries);
      const [file] = await segments(dir);
      await appendFile(file, Buffer.alloc(8192));
      const { records, journal } = await readAll(dir);
      assert.deepEqual(records.map(entryOf), entries);
      assert.match(journal.repairs[0], /torn tail of 8192 bytes/);
    }));

  it('a flipped byte before a good record is JOURNAL_CORRUPT naming the file and offset', () =>
    withTempDir(async (dir) => {
      const entries = Array.from({ length: 5 }, (_, i) => writeEntry(i, 1000));
      await build(dir, entries);
      const [file] = await segments(dir);
      const buf = await readFile(file);
      const second = 32 + recordBytes(entries[0]);
      buf[second + 200] ^= 0x01; // inside the data of record 2 (seq 2)
      await writeFile(file, buf);
      await assert.rejects(Journal.open(dir, opts), corruptAt(file, second));
      await assert.rejects(Journal.open(dir, opts), /bad record before a good one/);
    }));

  it('any bad record in an older (sealed) segment is JOURNAL_CORRUPT, its last one included', () =>
    withTempDir(async (dir) => {
      const o = { segmentBytes: 8192, maxBytes: 1024 * 1024 };
      await build(
        dir,
        Array.from({ length: 20 }, (_, i) => writeEntry(i, 2000)),
        o,
      );
      const files = await segments(dir);
      assert.ok(files.length >= 3);
      const buf = await readFile(files[1]);
      buf[buf.length - 5] ^= 0x80;
      await writeFile(files[1], buf);
      await assert.rejects(Journal.open(dir, o), corruptAt(files[1]));
    }));

  it('a torn header of the newest segment (a crash while creating it) is removed; seqs go on above it', () =>
    withTempDir(async (dir) => {
      const o = { segmentBytes: 8192, maxBytes: 1024 * 1024 };
      const entries = Array.from({ length: 5 }, (_, i) => writeEntry(i, 3000));
      await build(dir, entries, o);
      const files = await segments(dir);
      const newest = files[files.length - 1];
      const newestFirst = Number(/seg-(\d+)/.exec(newest)![1]);
      await truncate(newest, 10);
      const j = await Journal.open(dir, o);
      assert.deepEqual((await j.read(1)).map(entryOf), entries.slice(0, newestFirst - 1));
      assert.match(j.repairs[0], /header torn/);
      assert.ok((await j.append(writeEntry(9))) >= newestFirst, 'the removed segment’s seqs are not reused');
      await j.close();
    }));

  it('a bad header with good records behind it is damage, not a torn create', () =>
    withTempDir(async (dir) => {
      await build(dir, [writeEntry(1), writeEntry(2)]);
      const [file] = await segments(dir);
      const buf = await readFile(file);
      buf[9] ^= 0xff; // first seq in the header
      await writeFile(file, buf);
      await assert.rejects(Journal.open(dir, opts), corruptAt(file, 0));
    }));

  it('a damaged state file is JOURNAL_CORRUPT', () =>
    withTempDir(async (dir) => {
      await build(dir, [writeEntry(1)]);
      const state = join(dir, 'state');
      const buf = await readFile(state);
      buf[12] ^= 1;
      await writeFile(state, buf);
      await assert.rejects(
        Journal.open(dir, opts),
        (err) => isReboundError(err, 'JOURNAL_CORRUPT') && /state/.test(String(err)),
      );
    }));

  it('damage after open is caught by read, naming the file and offset', () =>
    withTempDir(async (dir) => {
      const j = await Journal.open(dir, opts);
      for (let i = 1; i <= 3; i++) await j.append(writeEntry(i, 1000));
      const [file] = await segments(dir);
      const buf = await readFile(file);
      const second = 32 + recordBytes(writeEntry(1, 1000));
      buf[second + 100] ^= 0x04;
      await writeFile(file, buf);
      assert.equal((await j.read(1, { maxEntries: 1 })).length, 1, 'the record before is fine');
      await assert.rejects(j.read(1), corruptAt(file, second));
      await j.close();
    }));
});
