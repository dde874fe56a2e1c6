/** The journal record codec: round trip, and no damaged or cut record ever passes as valid. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isReboundError } from '../../../src/errors.js';
import type { JournalEntry } from '../../../src/journal/index.js';
import {
  decodeRecordAt,
  encodeRecord,
  recordBytes,
  validateEntry,
  validRecordAt,
} from '../../../src/journal/record.js';

const entries: JournalEntry[] = [
  { type: 'write', volumeId: 'A1B2C3D4:7', offset: 2 ** 40 + 512, data: Buffer.from('hello journal') },
  { type: 'zero', volumeId: 'vol', offset: 65536, length: 2 ** 33 },
  { type: 'trim', volumeId: 'vol', offset: 0, length: 4096 },
  { type: 'marker', label: 'job-7 point 3 ✓' },
];

describe('journal record codec', () => {
  it('round-trips every type with 64-bit seqs, offsets and lengths', () => {
    let seq = 2 ** 52 + 1;
    for (const e of entries) {
      const buf = Buffer.concat(encodeRecord(seq, e));
      assert.equal(buf.length, recordBytes(e));
      assert.equal(validRecordAt(buf, 0), buf.length);
      assert.deepEqual(decodeRecordAt(buf, 0), { seq, ...e });
      seq++;
    }
  });

  it('rejects every truncation and every flipped byte', () => {
    for (const e of entries) {
      const buf = Buffer.concat(encodeRecord(9, e));
      for (let cut = 0; cut < buf.length; cut++)
        assert.equal(validRecordAt(buf.subarray(0, cut), 0), -1, `cut ${cut}`);
      for (let i = 0; i < buf.length; i++) {
        const bad = Buffer.from(buf);
        bad[i] ^= 0x10;
        assert.equal(validRecordAt(bad, 0), -1, `${e.type}: flipped byte ${i}`);
      }
    }
  });

  it('refuses bad entries at the edge, naming the field', () => {
    const field = (f: string) => (err: unknown) =>
      isReboundError(err, 'INVALID_ARGUMENT') && err.detail?.field === f;
    assert.throws(
      () => validateEntry({ type: 'write', volumeId: '', offset: 0, data: Buffer.alloc(1) }),
      field('volumeId'),
    );
    assert.throws(
      () => validateEntry({ type: 'write', volumeId: 'v', offset: -1, data: Buffer.alloc(1) }),
      field('offset'),
    );
    assert.throws(
      () => validateEntry({ type: 'zero', volumeId: 'v', offset: 0, length: 1.5 }),
      field('length'),
    );
    assert.throws(() => validateEntry({ type: 'marker', label: 'x'.repeat(2000) }), field('label'));
    assert.throws(() => validateEntry({ type: 'nope' } as unknown as JournalEntry), field('type'));
  });
});
