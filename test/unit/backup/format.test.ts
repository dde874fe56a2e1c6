import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { deriveKeys } from '../../../src/backup/crypto.js';
import {
  BLOCK_COMPRESSED,
  BLOCK_PARTIAL,
  BLOCK_STACKED,
  BLOCK_ZERO,
  type Catalog,
  DATA_HEADER_BYTES,
  decodeBlock,
  decodeCatalog,
  decodeDataHeader,
  decodeMetadata,
  encodeBlock,
  encodeCatalog,
  encodeDataHeader,
  encodeMetadata,
  entryBytes,
  indexEntries,
  type Metadata,
  NO_OBJECT,
} from '../../../src/backup/format.js';
import {
  backupIdTime,
  generationKey,
  isIncrementalBitmapSince,
  newBackupId,
  parseCatalogKey,
  uidSegment,
} from '../../../src/backup/keys.js';
import { BlockSet } from '../../../src/block/block-set.js';
import { ReboundError } from '../../../src/errors.js';

const BS = 4096;
const UID = '0A1B2C3D:7';

function corruptNaming(key: string) {
  return (err: unknown) => {
    assert.ok(err instanceof ReboundError, String(err));
    assert.equal(err.code, 'BACKUP_OBJECT_CORRUPT');
    assert.ok(err.message.includes(key), err.message);
    return true;
  };
}

function sampleMetadata(): Metadata {
  const bitmap = new BlockSet(100);
  bitmap.addRange(10, 3);
  bitmap.add(50);
  const checksums = randomBytes(4 * 32);
  return {
    blockSizeBytes: BS,
    bitmap,
    compression: 'brotli',
    keyed: false,
    encrypted: false,
    objects: ['volumes/x/data/a/000000', 'volumes/x/data/a/000001'],
    segments: [
      { object: 0, offset: DATA_HEADER_BYTES, count: 2 },
      { object: NO_OBJECT, offset: 0, count: 1 },
      { object: 1, offset: DATA_HEADER_BYTES, count: 1 },
    ],
    lengths: Uint32Array.from([4096, 100, 0, 300]),
    flags: Uint8Array.from([0, BLOCK_COMPRESSED, BLOCK_ZERO, BLOCK_COMPRESSED]),
    checksums,
  };
}

const catalog: Catalog = {
  id: '20250101T000000Z-00c0ffee',
  revision: 0,
  generation: 3,
  method: 'incremental',
  merged: false,
  time: '2025-01-01T00:00:00.000Z',
  volumeName: 'db',
  serial: '0A1B2C3D',
  volumeNumber: 7,
  uniqueId: UID,
  usedBytes: 1 << 20,
  sizeBytes: 8 << 20,
  blockSizeBytes: BS,
  metadataKey: 'volumes/0A1B2C3D-7/meta/20250101T000000Z-00c0ffee',
  parent: 'volumes/0A1B2C3D-7/catalog/0000000002-20241231T000000Z-0badf00d',
  dataIds: ['20250101T000000Z-00c0ffee'],
  blockCount: 4,
  storedBytes: 4496,
  compression: 'brotli',
  encryption: null,
};

describe('backup format', () => {
  it('round-trips blocks: zero, compressible, incompressible, encrypted', async () => {
    const keys = deriveKeys(randomBytes(32));
    const text = Buffer.alloc(BS, 'rebound block ');
    const noise = randomBytes(BS);
    for (const k of [undefined, keys]) {
      const z = await encodeBlock(Buffer.alloc(BS), 5, { compression: 'brotli', keys: k, uniqueId: UID });
      assert.equal(z.flags, BLOCK_ZERO);
      assert.equal(z.stored.length, 0);
      const t = await encodeBlock(text, 6, { compression: 'brotli', keys: k, uniqueId: UID });
      assert.equal(t.flags, BLOCK_COMPRESSED);
      assert.ok(t.stored.length < BS / 4);
      const n = await encodeBlock(noise, 7, { compression: 'brotli', keys: k, uniqueId: UID });
      assert.equal(n.flags, 0, 'incompressible blocks are stored raw');
      const opts = { blockSizeBytes: BS, keys: k, uniqueId: UID, where: 'obj' };
      assert.deepEqual(decodeBlock(z.stored, z.flags, z.checksum, { ...opts, block: 5 }), Buffer.alloc(BS));
      assert.deepEqual(decodeBlock(t.stored, t.flags, t.checksum, { ...opts, block: 6 }), text);
      assert.deepEqual(decodeBlock(n.stored, n.flags, n.checksum, { ...opts, block: 7 }), noise);
      // A flipped byte is caught, naming the object and the block.
      const bad = Buffer.from(n.stored);
      bad[100] ^= 1;
      assert.throws(() => decodeBlock(bad, n.flags, n.checksum, { ...opts, block: 7 }), corruptNaming('obj'));
      if (k) {
        // Sealed to its address: the same bytes at another block fail.
        assert.throws(
          () => decodeBlock(n.stored, n.flags, n.checksum, { ...opts, block: 8 }),
          corruptNaming('obj'),
        );
        // And a plain-text checksum is keyed: no SHA-256 of the plaintext in the bucket.
        assert.notDeepEqual(
          n.checksum,
          (await encodeBlock(noise, 7, { compression: 'none', uniqueId: UID })).checksum,
        );
      }
    }
  });

  it('round-trips data object headers and rejects bad magic, version and truncation', () => {
    const h = encodeDataHeader({ encrypted: true, firstBlock: 2 ** 33, entries: 17 });
    assert.deepEqual(decodeDataHeader('k', h), { encrypted: true, firstBlock: 2 ** 33, entries: 17 });
    const magic = Buffer.from(h);
    magic[0] ^= 0xff;
    assert.throws(() => decodeDataHeader('volumes/x/data/1', magic), corruptNaming('volumes/x/data/1'));
    const version = Buffer.from(h);
    version.writeUInt16BE(99, 4);
    assert.throws(() => decodeDataHeader('k2', version), corruptNaming('k2'));
    assert.throws(() => decodeDataHeader('k3', h.subarray(0, 10)), corruptNaming('k3'));
  });

  it('round-trips metadata, plain and encrypted, and indexes entries', () => {
    const m = sampleMetadata();
    const plain = decodeMetadata('m', encodeMetadata('m', m));
    assert.deepEqual(plain.objects, m.objects);
    assert.deepEqual(plain.segments, m.segments);
    assert.deepEqual([...plain.lengths], [...m.lengths]);
    assert.deepEqual(plain.checksums, m.checksums);
    assert.equal(plain.bitmap.count(), 4);
    const idx = indexEntries(plain);
    assert.deepEqual([...idx.blocks], [10, 11, 12, 50]);
    assert.deepEqual([...idx.offset], [32, 32 + 4096, 0, 32]);
    assert.deepEqual([...idx.object], [0, 0, NO_OBJECT, 1]);

    const keys = deriveKeys(randomBytes(32));
    const enc = encodeMetadata('volumes/x/meta/a', { ...m, keyed: true, encrypted: true }, keys);
    assert.ok(!enc.includes(Buffer.from('volumes/x/data/a')), 'object keys are sealed');
    const back = decodeMetadata('volumes/x/meta/a', enc, keys);
    assert.deepEqual(back.segments, m.segments);
    // Moved to another key: fails authentication.
    assert.throws(() => decodeMetadata('volumes/x/meta/b', enc, keys), corruptNaming('volumes/x/meta/b'));
    assert.throws(() => decodeMetadata('volumes/x/meta/a', enc), { code: 'INVALID_ARGUMENT' });
  });

  it('rejects damaged metadata: magic, version, truncation, flipped byte, inconsistent counts', () => {
    const buf = encodeMetadata('m', sampleMetadata());
    const cases: [string, Buffer][] = [
      ['magic', Buffer.concat([Buffer.from('XXXX'), buf.subarray(4)])],
      [
        'version',
        (() => {
          const b = Buffer.from(buf);
          b.writeUInt16BE(3, 4);
          return b;
        })(),
      ],
      ['truncated', buf.subarray(0, buf.length - 1)],
      ['short', buf.subarray(0, 5)],
      [
        'flipped',
        (() => {
          const b = Buffer.from(buf);
          b[60] ^= 4;
          return b;
        })(),
      ],
    ];
    for (const [name, b] of cases)
      assert.throws(
        () => decodeMetadata(`volumes/v/meta/${name}`, b),
        corruptNaming(`volumes/v/meta/${name}`),
      );
    const m = sampleMetadata();
    m.segments[0].count = 1;
    assert.throws(() => encodeMetadata('m2', m), corruptNaming('m2'));
  });

  it('round-trips partial and stacked entries as version 2, and writes version 1 without them', () => {
    // 64 KiB blocks of 4 KiB grains: block 10 partial (grains 0 and 3), block 11 whole
    // with a partial entry stacked over it, block 12 whole, block 50 partial and zero.
    const m: Metadata = {
      ...sampleMetadata(),
      blockSizeBytes: 65536,
      lengths: Uint32Array.from([8192, 65536, 100, 300, 0]),
      flags: Uint8Array.from([
        BLOCK_PARTIAL,
        0,
        BLOCK_PARTIAL | BLOCK_STACKED | BLOCK_COMPRESSED,
        0,
        BLOCK_PARTIAL | BLOCK_ZERO,
      ]),
      checksums: randomBytes(5 * 32),
      segments: [
        { object: 0, offset: DATA_HEADER_BYTES, count: 3 },
        { object: 1, offset: DATA_HEADER_BYTES, count: 1 },
        { object: NO_OBJECT, offset: 0, count: 1 },
      ],
      grainBytes: 4096,
      masks: Uint32Array.from([0b1001, 0, 0b110, 0, 1 << 15]),
    };
    const buf = encodeMetadata('m', m);
    assert.equal(buf.readUInt16BE(4), 2);
    const back = decodeMetadata('m', buf);
    assert.equal(back.grainBytes, 4096);
    assert.deepEqual([...back.masks!], [...m.masks!]);
    assert.deepEqual([...back.flags], [...m.flags]);
    assert.deepEqual([...indexEntries(back).blocks], [10, 11, 11, 12, 50]);
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((e) => entryBytes(back, e)),
      [8192, 65536, 8192, 65536, 4096],
    );
    assert.equal(encodeMetadata('m', sampleMetadata()).readUInt16BE(4), 1, 'no partial entry: version 1');

    // Version 1 cannot hold them; masks must fit the block and match the flags.
    const v1 = Buffer.from(buf);
    v1.writeUInt16BE(1, 4);
    assert.throws(() => decodeMetadata('v1', v1), corruptNaming('v1'));
    for (const [name, change] of [
      ['full mask', (x: Metadata) => (x.masks![0] = 0xffff)],
      ['past the block', (x: Metadata) => (x.masks![0] = 1 << 16)],
      ['mask without flag', (x: Metadata) => (x.masks![1] = 1)],
      ['grain', (x: Metadata) => (x.grainBytes = 3000)],
      ['stacked first', (x: Metadata) => (x.flags[0] |= BLOCK_STACKED)],
    ] as const) {
      const bad: Metadata = { ...m, masks: Uint32Array.from(m.masks!), flags: Uint8Array.from(m.flags) };
      change(bad);
      assert.throws(() => encodeMetadata(name, bad), corruptNaming(name));
    }
  });

  it('round-trips catalogs and rejects damaged ones naming the key', () => {
    const buf = encodeCatalog(catalog);
    assert.deepEqual(decodeCatalog('c', buf), catalog);
    const key = 'volumes/0A1B2C3D-7/catalog/0000000003-x/r0000';
    const flipped = Buffer.from(buf);
    flipped[30] ^= 1;
    assert.throws(() => decodeCatalog(key, flipped), corruptNaming(key));
    assert.throws(() => decodeCatalog(key, buf.subarray(0, buf.length - 3)), corruptNaming(key));
    const v2 = Buffer.from(buf);
    v2.writeUInt16BE(2, 4);
    assert.throws(() => decodeCatalog(key, v2), corruptNaming(key));
    const magic = Buffer.from(buf);
    magic.write('NOPE', 0);
    assert.throws(() => decodeCatalog(key, magic), corruptNaming(key));
    const { metadataKey: _drop, ...missing } = catalog;
    assert.throws(() => decodeCatalog(key, encodeCatalog(missing as Catalog)), corruptNaming(key));
  });

  it('names keys: unique ID segments, backup IDs with their time, catalog keys', () => {
    assert.equal(uidSegment('0A1B2C3D:7'), '0A1B2C3D-7');
    assert.equal(uidSegment('a/b c'), 'a_2Fb_20c');
    const id = newBackupId(new Date('2025-03-04T05:06:07.890Z'));
    assert.match(id, /^20250304T050607Z-[0-9a-f]{8}$/);
    assert.equal(backupIdTime(id)?.toISOString(), '2025-03-04T05:06:07.000Z');
    assert.deepEqual(parseCatalogKey(`volumes/u/catalog/0000000012-${id}/r0003`), {
      genKey: `volumes/u/catalog/0000000012-${id}`,
      generation: 12,
      backupId: id,
      revision: 3,
    });
    assert.equal(parseCatalogKey('volumes/u/meta/x'), undefined);
    // The incremental bitmap counting from a generation: rbi.<store tag>.<its backup ID>.
    const since = isIncrementalBitmapSince(generationKey('u', 12, id));
    assert.equal(since(`rbi.ab12cd34.${id}`), true);
    assert.equal(since(`rbd.ab12cd34.${id}`), false, 'a differential bitmap');
    assert.equal(since(`rbi.ab12cd34.${newBackupId(new Date())}`), false, 'another generation');
    assert.equal(since('since-restore'), false);
    assert.equal(isIncrementalBitmapSince('volumes/u/meta/x')(`rbi.ab12cd34.${id}`), false);
  });
});
