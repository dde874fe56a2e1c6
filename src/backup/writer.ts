/**
 * The backup writer (DESIGN.md data path "Backup"; SPEC Fig. 10-14): blocks of a set,
 * read from a snapshot, packed into data objects, then the metadata, then the catalog.
 *
 * Which blocks. Each volume keeps, per store, one active update bitmap per kind, named
 * after the generation it counts from:
 *
 *   rbi.<tag>.<backupId>   changes since generation <backupId> (any method): incrementals
 *   rbd.<tag>.<backupId>   changes since full generation <backupId>: differentials
 *
 * A backup of generation X (SPEC "fix the bitmap", done without a gap):
 *
 *   1 create rbi.<tag>.X (and rbd.<tag>.X for a full)        new writes are marked here
 *   2 snapshot rbs.<tag>.X                                   the instant of generation X
 *   3 set = old rbi (incremental) | old rbd (differential)   read *after* the snapshot:
 *         | allocated blocks of the snapshot (full)          a superset, never a subset
 *   4 read the set from the snapshot; compress, encrypt, upload data objects in parallel
 *   5 put metadata, then the catalog (the commit)
 *   6 success: delete the old bitmaps and the snapshot
 *     failure: delete rbi/rbd.<tag>.X and the snapshot; the old bitmaps were never
 *              cleared, so every changed block is still marked (nothing to merge back)
 *
 * Why not freeze + snapshot: Storage's freezeBitmap and createSnapshot each drain writes
 * on their own, so a write can fall between them. Snapshot-then-freeze would lose such a
 * write from every later incremental; freeze-then-snapshot would store it in no
 * generation at its snapshot-time value. Creating the next bitmap before the snapshot
 * and reading the old one after it covers both orders: a block written in between is in
 * both bitmaps, backed up now (from the snapshot) and again next time. An atomic
 * "snapshot and freeze" in Storage would save those few re-sent blocks.
 *
 * The bitmap's name is also the proof of its base: an incremental is made only when
 * the generation its bitmap counts from is in the store, with the same size, block size
 * and encryption key; otherwise it becomes a full and `reason` says why.
 * Leftovers of an interrupted backup (crash) are cleared at the start of the next one.
 */
import { createHash } from 'node:crypto';
import { BlockSet } from '../block/block-set.js';
import type { BlockDevice } from '../block/device.js';
import { type GrainMasks, grainRuns, popcount32 } from '../block/grain-masks.js';
import { pacer } from '../block/pacer.js';
import { ReboundError } from '../errors.js';
import type { ObjectStore } from '../objectstore/types.js';
import type { Storage } from '../volume/types.js';
import { BufferPool } from './buffers.js';
import { type Generation, listGenerations, readCatalog } from './chain.js';
import { codecPool, sharedBuffer } from './codec-pool.js';
import { type BackupKeys, CHECKSUM_BYTES, deriveKeys } from './crypto.js';
import {
  type BackupMethod,
  BLOCK_PARTIAL,
  type Catalog,
  type Compression,
  DATA_HEADER_BYTES,
  DEFAULT_COMPRESSION,
  encodeCatalog,
  encodeDataHeader,
  encodeMetadata,
  type Metadata,
  maxStoredBytes,
  NO_OBJECT,
  type Segment,
  WRITER_CODECS,
} from './format.js';
import { catalogKey, dataKey, generationKey, metadataKey, newBackupId } from './keys.js';

export interface BackupProgress {
  phase: 'data' | 'metadata' | 'done';
  blocksDone: number;
  blocksTotal: number;
  bytesRead: number;
  bytesTotal: number;
  /** Bytes of block payloads uploaded (after compression and encryption). */
  bytesStored: number;
  objectsUploaded: number;
  elapsedMs: number;
  /** bytesRead per second since the start. */
  rateBytesPerSec: number;
}

export interface BackupOptions {
  method: BackupMethod;
  /** The store's 32-byte key: blocks and metadata are AES-256-GCM encrypted with keys derived from it. */
  encryptionKey?: Buffer;
  /**
   * Default 'zstd' (level 1). A block that looks incompressible (byte histogram of a
   * sample) or that compression shrinks by under 1/8 is stored raw. The choice is a
   * trade (docs/formats/backup.md, "Codecs"): zstd encodes about as fast as brotli q0,
   * decodes 3-4x faster (restores) and packs text smaller; deflate level 1 encodes at
   * half the speed; 'none' is fastest both ways and stores the most. Every reader
   * decodes every codec, so generations of a chain may differ.
   */
  compression?: Compression;
  /** Reads being read and encoded at once. Default 8. */
  concurrency?: number;
  /** Data objects being uploaded at once. Default 4. */
  uploadConcurrency?: number;
  /** Target size of a data object. Default 16 MiB. */
  objectSizeBytes?: number;
  /** Adjacent blocks are read from the snapshot in I/Os of at most this. Default 1 MiB. */
  readIoBytes?: number;
  /**
   * Read the snapshot at most this many bytes per second (the node's backup rate), so
   * hosts keep their share of the pool's drives while a backup runs. Default: no limit.
   */
  maxBytesPerSec?: number;
  /** Names this store in bitmap names (8 of [A-Za-z0-9]). Default: from a hash of store.description. */
  storeTag?: string;
  /**
   * Failback through the object store (SPEC S803-S806): an incremental of the blocks set
   * in active bitmap `bitmap` (read, never cleared) with `parent` as parent generation.
   */
  from?: { bitmap: string; parent: string };
  onProgress?: (progress: BackupProgress) => void;
  /** Default 250 ms; a last report always comes at the end. */
  progressIntervalMs?: number;
  signal?: AbortSignal;
  /** Clock (tests). */
  now?: () => Date;
}

export interface BackupResult {
  generationKey: string;
  catalogKey: string;
  catalog: Catalog;
  requestedMethod: BackupMethod;
  method: BackupMethod;
  /** Why a requested incremental or differential became a full. */
  reason?: string;
  blocks: number;
  bytesRead: number;
  bytesStored: number;
  dataObjects: number;
  elapsedMs: number;
  rateBytesPerSec: number;
}

const TAG = /^[A-Za-z0-9]{1,16}$/;

export function storeTagOf(store: ObjectStore): string {
  return createHash('sha256').update(store.description).digest('hex').slice(0, 8);
}

interface OwnBitmap {
  name: string;
  kind: 'rbi' | 'rbd';
  id: string;
}

function ownObjects(names: string[], prefix: string, tag: string): OwnBitmap[] {
  const out: OwnBitmap[] = [];
  for (const name of names) {
    const m = /^(rb[ids])\.([A-Za-z0-9]+)\.(.+)$/.exec(name);
    if (m && m[2] === tag && m[1].startsWith(prefix))
      out.push({ name, kind: m[1] as 'rbi' | 'rbd', id: m[3] });
  }
  return out;
}

/** The backup bitmaps of a volume for a store (after any recovery): for tests and the API. */
export function backupBitmaps(
  storage: Storage,
  volume: string,
  store: ObjectStore,
  storeTag = storeTagOf(store),
): { incremental?: string; differential?: string } {
  const own = ownObjects(
    storage.listBitmaps(volume).map((b) => b.name),
    'rb',
    storeTag,
  );
  return {
    incremental: own.find((b) => b.kind === 'rbi')?.name,
    differential: own.find((b) => b.kind === 'rbd')?.name,
  };
}

const locks = new Map<string, Promise<unknown>>();

/** One backup of a volume at a time in this process. */
async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const mine = prev.catch(() => {}).then(fn);
  locks.set(key, mine);
  try {
    return await mine;
  } finally {
    if (locks.get(key) === mine) locks.delete(key);
  }
}

/**
 * Clear what an interrupted backup left (bitmaps and snapshot of an uncommitted
 * generation; bitmaps superseded by a committed one) and return the live bitmaps.
 */
async function recover(
  storage: Storage,
  volume: string,
  tag: string,
  byId: Map<string, Generation>,
): Promise<{ inc?: OwnBitmap; diff?: OwnBitmap; dropped: string[] }> {
  const dropped: string[] = [];
  for (const s of ownObjects(
    storage.listSnapshots(volume).map((s) => s.name),
    'rbs',
    tag,
  )) {
    await storage.deleteSnapshot(volume, s.name);
    dropped.push(s.name);
  }
  const bitmaps = ownObjects(
    storage.listBitmaps(volume).map((b) => b.name),
    'rb',
    tag,
  );
  const live: { inc?: OwnBitmap; diff?: OwnBitmap } = {};
  const genOf = (b: OwnBitmap) => byId.get(b.id)?.catalog.generation ?? -1;
  for (const kind of ['rbi', 'rbd'] as const) {
    const mine = bitmaps.filter((b) => b.kind === kind);
    const committed = mine.filter((b) => byId.has(b.id)).sort((a, b) => genOf(b) - genOf(a));
    const keep = committed[0];
    for (const b of mine) {
      if (b === keep) continue;
      await storage.deleteBitmap(volume, b.name);
      dropped.push(b.name);
    }
    if (!keep) continue;
    if (kind === 'rbi') live.inc = keep;
    else live.diff = keep;
  }
  return { ...live, dropped };
}

/** Why generation `parent` cannot be the base of a delta of this volume, or undefined. */
function incompatible(
  parent: Catalog,
  sizeBytes: number,
  blockSizeBytes: number,
  keys: BackupKeys | undefined,
): string | undefined {
  if (parent.sizeBytes !== sizeBytes)
    return `the volume size changed from ${parent.sizeBytes} to ${sizeBytes} bytes`;
  if (parent.blockSizeBytes !== blockSizeBytes)
    return `the block size changed from ${parent.blockSizeBytes} to ${blockSizeBytes} bytes (the pool's)`;
  const was = parent.encryption?.keyId ?? null;
  const now = keys?.keyId ?? null;
  if (was !== now) return `the encryption key changed (${was ?? 'none'} -> ${now ?? 'none'})`;
  return undefined;
}

/** The blocks a full backup stores: everything the snapshot has allocated and not zero. */
async function allocatedBlocks(device: BlockDevice, blockSizeBytes: number): Promise<BlockSet> {
  const set = new BlockSet(Math.ceil(device.sizeBytes / blockSizeBytes));
  const step = 1024 * 1024 * 1024;
  let at = 0;
  while (at < device.sizeBytes) {
    const len = Math.min(step, device.sizeBytes - at);
    const extents = await device.blockStatus(at, len);
    for (const e of extents) {
      if (!e.zero) {
        const first = Math.floor(e.offset / blockSizeBytes);
        const last = Math.ceil((e.offset + e.length) / blockSizeBytes);
        set.addRange(first, last - first);
      }
      at = e.offset + e.length;
    }
  }
  return set;
}

/** Back up volume `volumeName` of `storage` to `store`; see the file comment. */
export async function backupVolume(
  storage: Storage,
  volumeName: string,
  store: ObjectStore,
  options: BackupOptions,
): Promise<BackupResult> {
  if (!['full', 'incremental', 'differential'].includes(options.method)) {
    throw new ReboundError('INVALID_ARGUMENT', `backup method ${options.method} unknown`, {
      detail: { field: 'method' },
    });
  }
  const tag = options.storeTag ?? storeTagOf(store);
  if (!TAG.test(tag))
    throw new ReboundError('INVALID_ARGUMENT', `store tag ${tag} is not 1-16 of [A-Za-z0-9]`);
  if (options.compression !== undefined && !WRITER_CODECS.includes(options.compression)) {
    throw new ReboundError(
      'INVALID_ARGUMENT',
      `compression ${options.compression} unknown: one of ${WRITER_CODECS.join(', ')}`,
      { detail: { field: 'compression' } },
    );
  }
  storage.getVolume(volumeName); // NOT_FOUND before taking the lock
  return withLock(`${storage.serial}/${volumeName}`, () =>
    runBackup(storage, volumeName, store, options, tag),
  );
}

async function runBackup(
  storage: Storage,
  volumeName: string,
  store: ObjectStore,
  options: BackupOptions,
  tag: string,
): Promise<BackupResult> {
  const started = Date.now();
  const now = options.now ?? (() => new Date());
  const info = storage.getVolume(volumeName);
  const uniqueId = info.inheritedUniqueId ?? info.uniqueId;
  const blockSizeBytes = storage.blockSizeBytes;
  const keys = options.encryptionKey ? deriveKeys(options.encryptionKey) : undefined;
  const compression = options.compression ?? DEFAULT_COMPRESSION;

  const gens = await listGenerations(store, uniqueId);
  const byId = new Map(gens.map((g) => [g.catalog.id, g]));
  const { inc, diff } = await recover(storage, volumeName, tag, byId);

  // Decide the method and the parent.
  let method: BackupMethod = options.method;
  let reason: string | undefined;
  let parent: Generation | undefined;
  let source: { bitmap: string } | undefined; // bitmap whose bits (read after the snapshot) are the set
  if (options.from) {
    parent = await readCatalog(store, options.from.parent);
    const why = incompatible(parent.catalog, info.sizeBytes, blockSizeBytes, keys);
    if (why) throw new ReboundError('INVALID_ARGUMENT', `cannot back up on top of ${parent.key}: ${why}`);
    if (parent.catalog.uniqueId !== uniqueId) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `generation ${parent.key} is of volume ${parent.catalog.uniqueId}, not ${uniqueId}`,
      );
    }
    method = 'incremental';
    source = { bitmap: options.from.bitmap };
  } else if (method !== 'full') {
    const base = method === 'incremental' ? inc : diff;
    const kind = method === 'incremental' ? 'backup' : 'differential';
    if (!base)
      reason = `no ${kind} bitmap for this store on the volume (first backup, or the bitmap was lost)`;
    else {
      parent = byId.get(base.id);
      if (!parent) reason = `generation ${base.id} the bitmap counts from is not in the store`;
      else reason = incompatible(parent.catalog, info.sizeBytes, blockSizeBytes, keys);
      if (!reason) source = { bitmap: base.name };
    }
    if (reason) {
      method = 'full';
      parent = undefined;
    }
  }

  const backupId = newBackupId(now());
  const generation = gens.reduce((m, g) => Math.max(m, g.catalog.generation), 0) + 1;
  const genKey = generationKey(uniqueId, generation, backupId);
  const incName = `rbi.${tag}.${backupId}`;
  const diffName = `rbd.${tag}.${backupId}`;
  const snapName = `rbs.${tag}.${backupId}`;
  const created: string[] = [];
  let snapshotTaken = false;
  const uploaded: string[] = [];
  try {
    await storage.createBitmap(volumeName, incName);
    created.push(incName);
    if (method === 'full') {
      await storage.createBitmap(volumeName, diffName);
      created.push(diffName);
    }
    await storage.createSnapshot(volumeName, snapName);
    snapshotTaken = true;
    // Read right after the snapshot: a superset of the changes up to it.
    const set = source ? storage.getBitmap(volumeName, source.bitmap) : undefined;
    const grains = source ? storage.getBitmapGrains(volumeName, source.bitmap) : undefined;
    const time = now();
    const usedBytes = storage.getVolume(volumeName).usedBytes;
    const snapshot = storage.snapshotDevice(volumeName, snapName);
    const blocks = set ?? (await allocatedBlocks(snapshot, blockSizeBytes));
    const sizeBlocks = Math.ceil(info.sizeBytes / blockSizeBytes);
    if (blocks.sizeBlocks !== sizeBlocks) blocks.resize(sizeBlocks);

    const written = await writeBlocks(snapshot, blocks, grains, store, {
      uniqueId,
      backupId,
      blockSizeBytes,
      keys,
      compression,
      options,
      started,
      uploaded,
    });

    const metaKey = metadataKey(uniqueId, backupId);
    const meta: Metadata = {
      blockSizeBytes,
      bitmap: blocks,
      compression,
      keyed: keys !== undefined,
      encrypted: keys !== undefined,
      objects: written.objects,
      segments: written.segments,
      lengths: written.lengths,
      flags: written.flags,
      checksums: written.checksums,
      ...(written.masks ? { grainBytes: grains!.grainBytes, masks: written.masks } : {}),
    };
    options.onProgress?.({ ...written.progress, phase: 'metadata', elapsedMs: Date.now() - started });
    await store.put(metaKey, encodeMetadata(metaKey, meta, keys));
    uploaded.push(metaKey);

    const catalog: Catalog = {
      id: backupId,
      revision: 0,
      generation,
      method,
      merged: false,
      time: time.toISOString(),
      volumeName,
      serial: info.serial,
      volumeNumber: info.number,
      uniqueId,
      usedBytes,
      sizeBytes: info.sizeBytes,
      blockSizeBytes,
      metadataKey: metaKey,
      parent: parent?.key ?? null,
      dataIds: written.objects.length > 0 ? [backupId] : [],
      blockCount: blocks.count(),
      storedBytes: written.progress.bytesStored,
      compression,
      encryption: keys ? { method: 'aes-256-gcm', keyId: keys.keyId } : null,
      ...(reason ? { reason } : {}),
    };
    const ck = catalogKey(genKey, 0);
    await store.put(ck, encodeCatalog(catalog)); // the commit

    // Committed: drop what the new bitmaps replace, and the snapshot.
    if (inc) await storage.deleteBitmap(volumeName, inc.name);
    if (method === 'full' && diff) await storage.deleteBitmap(volumeName, diff.name);
    await storage.deleteSnapshot(volumeName, snapName);
    const elapsedMs = Date.now() - started;
    const p = written.progress;
    const final: BackupProgress = {
      ...p,
      phase: 'done',
      elapsedMs,
      rateBytesPerSec: rate(p.bytesRead, elapsedMs),
    };
    options.onProgress?.(final);
    return {
      generationKey: genKey,
      catalogKey: ck,
      catalog,
      requestedMethod: options.method,
      method,
      ...(reason ? { reason } : {}),
      blocks: catalog.blockCount,
      bytesRead: p.bytesRead,
      bytesStored: p.bytesStored,
      dataObjects: written.objects.length,
      elapsedMs,
      rateBytesPerSec: final.rateBytesPerSec,
    };
  } catch (err) {
    // Nothing committed: the old bitmaps still hold every change. Undo the rest, best effort.
    for (const name of created) await storage.deleteBitmap(volumeName, name).catch(() => {});
    if (snapshotTaken) await storage.deleteSnapshot(volumeName, snapName).catch(() => {});
    await Promise.all(uploaded.map((k) => store.delete(k).catch(() => {})));
    throw err;
  }
}

function rate(bytes: number, ms: number): number {
  return ms > 0 ? Math.round((bytes * 1000) / ms) : 0;
}

interface Written {
  objects: string[];
  segments: Segment[];
  lengths: Uint32Array;
  flags: Uint8Array;
  checksums: Buffer;
  /** Per entry, the grains of a partial entry (0: whole); set only when there is one. */
  masks?: Uint32Array;
  progress: BackupProgress;
}

/** Blocks read together: a run of whole blocks, or one block's grains (`mask`). */
interface Piece {
  start: number;
  count: number;
  mask?: number;
}

/** Entries in one codec job at most (scattered partial blocks make many small ones). */
const MAX_BATCH_ENTRIES = 256;

/**
 * Read `blocks` from `device` in address order, in batches of up to `readIoBytes` (one
 * run, or several short ones), each encoded as one job of the codec pool (worker
 * threads); `concurrency` batches in flight, results taken in order. Pack them into data
 * objects and upload those `uploadConcurrency` at a time. Uploaded keys are pushed to
 * `ctx.uploaded`.
 */
async function writeBlocks(
  device: BlockDevice,
  blocks: BlockSet,
  grains: GrainMasks | undefined,
  store: ObjectStore,
  ctx: {
    uniqueId: string;
    backupId: string;
    blockSizeBytes: number;
    keys: BackupKeys | undefined;
    compression: Compression;
    options: BackupOptions;
    started: number;
    uploaded: string[];
  },
): Promise<Written> {
  const { options, blockSizeBytes: bs, uniqueId } = ctx;
  const concurrency = options.concurrency ?? 8;
  const uploadConcurrency = options.uploadConcurrency ?? 4;
  const objectSize = options.objectSizeBytes ?? 16 * 1024 * 1024;
  const maxBlocks = Math.max(1, Math.floor((options.readIoBytes ?? 1024 * 1024) / bs));
  const ioBytes = maxBlocks * bs;
  const interval = options.progressIntervalMs ?? 250;
  const n = blocks.count();
  // Partly changed blocks (incrementals, differentials): only their grains are read and
  // stored, as partial entries (docs/formats/backup.md).
  const grainBytes = grains?.grainBytes ?? 0;
  const FULL = grains?.full ?? 0;
  let bytesTotal = n * bs;
  let partials = 0;
  if (grains && grainBytes > 0) {
    for (const [b, m] of grains.entries()) {
      if (!blocks.has(b)) continue;
      partials++;
      bytesTotal -= bs - popcount32(m) * grainBytes;
    }
  }

  const progress: BackupProgress = {
    phase: 'data',
    blocksDone: 0,
    blocksTotal: n,
    bytesRead: 0,
    bytesTotal,
    bytesStored: 0,
    objectsUploaded: 0,
    elapsedMs: 0,
    rateBytesPerSec: 0,
  };
  let lastReport = 0;
  const report = () => {
    const t = Date.now();
    if (!options.onProgress || t - lastReport < interval) return;
    lastReport = t;
    progress.elapsedMs = t - ctx.started;
    progress.rateBytesPerSec = rate(progress.bytesRead, progress.elapsedMs);
    options.onProgress({ ...progress });
  };

  const lengths = new Uint32Array(n);
  const flags = new Uint8Array(n);
  const checksums = Buffer.alloc(n * CHECKSUM_BYTES);
  const masks = new Uint32Array(partials > 0 ? n : 0);
  const objects: string[] = [];
  const segments: Segment[] = [];
  let entry = 0;

  // Buffers reused for the whole backup (buffers.ts): the codec jobs' outputs, and the
  // data objects, filled in place and given back once uploaded.
  const maxStored = maxStoredBytes(bs, ctx.keys !== undefined);
  const jobOutputs = new BufferPool(sharedBuffer, concurrency + 1);
  const jobInputs = new BufferPool(sharedBuffer, concurrency + 1);
  const readInto = device.readInto?.bind(device);
  const readRanges = device.readRanges?.bind(device);
  // Generation N+1 of a failback: its verify follows, which may take these hashes (hash-memo.ts).
  const keepHashes = options.from ? { keepHashes: true } : undefined;
  const objectBytes = DATA_HEADER_BYTES + Math.max(objectSize, maxStored);
  const objectBuffers = new BufferPool((size) => Buffer.allocUnsafeSlow(size), uploadConcurrency + 1);

  // Data object being filled: its buffer, payload bytes and entries so far.
  let object: Buffer | undefined;
  let partBytes = 0;
  let partEntries = 0;
  let firstBlock = 0;

  const uploads = new Set<Promise<void>>();
  let uploadError: unknown;
  const upload = async (key: string, buffer: Buffer, length: number) => {
    while (uploads.size >= uploadConcurrency) await Promise.race(uploads);
    if (uploadError !== undefined) throw uploadError;
    const p = store.put(key, buffer.subarray(0, length)).then(
      () => {
        objectBuffers.give(buffer);
        ctx.uploaded.push(key);
        progress.objectsUploaded++;
        progress.bytesStored += length - DATA_HEADER_BYTES;
        report();
      },
      (err) => {
        uploadError ??= err;
      },
    );
    const tracked = p.finally(() => uploads.delete(tracked));
    uploads.add(tracked);
  };
  const finishObject = async () => {
    const buffer = object!;
    encodeDataHeader({ encrypted: ctx.keys !== undefined, firstBlock, entries: partEntries }).copy(buffer, 0);
    const key = dataKey(uniqueId, ctx.backupId, objects.length);
    objects.push(key);
    const length = DATA_HEADER_BYTES + partBytes;
    object = undefined;
    partBytes = 0;
    partEntries = 0;
    await upload(key, buffer, length);
  };
  const pool = codecPool();
  // A batch: up to readIoBytes of blocks from one or more runs (scattered changes make
  // runs of a block or two), read in parallel into a reused shared buffer that the
  // worker reads in place, and encoded as one pool job; the payloads come back in another
  // reused shared buffer. A partial block (a mask) is its grains only, read run by run
  // and packed. A batch whose read fails keeps its input buffer out of the pool (reads
  // still in flight may write to it).
  const readBatch = async (pieces: Piece[]) => {
    const total = pieces.reduce((a, p) => a + p.count, 0);
    const addresses = new Float64Array(total);
    const sizes = new Uint32Array(total);
    const reads: { offset: number; length: number; at: number; room: number }[] = [];
    let k = 0;
    let at = 0;
    for (const piece of pieces) {
      if (piece.mask === undefined) {
        reads.push({ offset: piece.start * bs, length: piece.count * bs, at, room: piece.count * bs });
        for (let i = 0; i < piece.count; i++) {
          addresses[k] = piece.start + i;
          sizes[k++] = bs;
        }
        at += piece.count * bs;
        continue;
      }
      addresses[k] = piece.start;
      sizes[k++] = popcount32(piece.mask) * grainBytes;
      grainRuns(piece.mask, (g0, g1) => {
        const length = (g1 - g0) * grainBytes;
        reads.push({ offset: piece.start * bs + g0 * grainBytes, length, at, room: length });
        at += length;
      });
    }
    const input = jobInputs.take(maxBlocks * bs);
    // The device's end may cut the last block short: the rest reads as zeros.
    const lengthOf = (r: (typeof reads)[number]) =>
      Math.max(0, Math.min(r.length, device.sizeBytes - r.offset));
    if (readRanges && (reads.length > 1 || keepHashes)) {
      // Scattered grains: one call for the batch (a volume's read worker), not a read each.
      const some = reads.filter((r) => lengthOf(r) > 0);
      // Every read whole (all but a volume's last block): the answer is the batch's bytes
      // in order, so the device may read them straight into the codec's input (a volume's
      // worker does: no buffer made and no copy per batch, 85 MB of them for generation
      // N+1 of a failback); else one copy, not one per grain.
      const whole = some.length === reads.length && some.every((r) => lengthOf(r) === r.length);
      const data = await readRanges(
        some.map((r) => ({ offset: r.offset, length: lengthOf(r) })),
        { ...keepHashes, ...(whole ? { into: input } : {}) },
      );
      if (whole) {
        if (data.buffer !== input.buffer || data.byteOffset !== input.byteOffset) data.copy(input, 0, 0, at);
        progress.bytesRead += at;
      } else {
        let from = 0;
        for (const r of reads) {
          const len = lengthOf(r);
          data.copy(input, r.at, from, from + len);
          from += len;
          progress.bytesRead += len;
          if (len < r.room) input.fill(0, r.at + len, r.at + r.room);
        }
      }
    } else {
      await Promise.all(
        reads.map(async (r) => {
          const len = lengthOf(r);
          progress.bytesRead += len;
          const into = input.subarray(r.at, r.at + len);
          if (readInto) await readInto(r.offset, into);
          else (await device.read(r.offset, len)).copy(into);
          if (len < r.room) input.fill(0, r.at + len, r.at + r.room);
        }),
      );
    }
    const out = jobOutputs.take(ioBytes + MAX_BATCH_ENTRIES * (maxStored - bs));
    try {
      const r = await pool.encode(input.subarray(0, at), {
        blockSizeBytes: bs,
        blocks: addresses,
        ...(at !== total * bs ? { sizes } : {}),
        compression: ctx.compression,
        keys: ctx.keys,
        uniqueId,
        out,
      });
      return { pieces, addresses, flags: r.flags, lengths: r.lengths, checksums: r.checksums, out };
    } finally {
      jobInputs.give(input);
    }
  };

  const inflight: ReturnType<typeof readBatch>[] = [];
  // A batch's entries, in order, into the data objects: each entry's length, flags and
  // mask, and its payload where the object being filled has room (else the object goes
  // and another starts). No step per entry awaits or makes a buffer: the payloads of
  // consecutive entries are copied into an object in one copy, the checksums of the
  // batch in one.
  const consume = async () => {
    const done = await inflight.shift()!;
    const { out, lengths: stored } = done;
    checksums.set(done.checksums.subarray(0, done.addresses.length * CHECKSUM_BYTES), entry * CHECKSUM_BYTES);
    let at = 0; // the entry's payload in `out`
    let pending = 0; // bytes before `at` that belong in `object` and are not copied yet
    const copyPending = () => {
      if (pending === 0) return;
      out.copy(object!, DATA_HEADER_BYTES + partBytes - pending, at - pending, at);
      pending = 0;
    };
    let i = 0;
    for (const piece of done.pieces) {
      for (let j = 0; j < piece.count; j++, i++) {
        const len = stored[i];
        if (len > 0) {
          if (object && partBytes + len > objectSize && partEntries > 0) {
            copyPending();
            await finishObject();
          }
          if (!object) {
            object = objectBuffers.take(objectBytes);
            firstBlock = done.addresses[i];
            segments.push({ object: objects.length, offset: DATA_HEADER_BYTES, count: 0 });
          }
          partBytes += len;
          pending += len;
        } else if (!object) {
          // A zero block outside any object: it needs no payload.
          const last = segments[segments.length - 1];
          if (!last || last.object !== NO_OBJECT) segments.push({ object: NO_OBJECT, offset: 0, count: 0 });
        }
        if (object) partEntries++;
        segments[segments.length - 1].count++;
        lengths[entry] = len;
        flags[entry] = done.flags[i] | (piece.mask !== undefined ? BLOCK_PARTIAL : 0);
        if (piece.mask !== undefined) masks[entry] = piece.mask;
        entry++;
        at += len;
      }
    }
    copyPending();
    jobOutputs.give(out);
    progress.blocksDone += done.addresses.length;
    report();
  };
  let batch: Piece[] = [];
  let batchBytes = 0;
  const pace = pacer(options.maxBytesPerSec, options.signal);
  const issue = async () => {
    await pace(batchBytes);
    if (options.signal?.aborted)
      throw options.signal.reason ?? new DOMException('backup aborted', 'AbortError');
    if (uploadError !== undefined) throw uploadError;
    const p = readBatch(batch);
    batch = [];
    batchBytes = 0;
    p.catch(() => {}); // observed when consumed
    inflight.push(p);
    if (inflight.length >= concurrency) await consume();
  };
  const maskOf = (b: number) => (grains && grainBytes > 0 ? grains.maskOf(b) : FULL);
  try {
    for (const run of blocks.runs()) {
      const end = run.start + run.count;
      for (let s = run.start; s < end; ) {
        const mask = maskOf(s);
        if (mask !== FULL) {
          const size = popcount32(mask) * grainBytes;
          if (batchBytes + size > ioBytes) await issue();
          batch.push({ start: s, count: 1, mask });
          batchBytes += size;
          s++;
        } else {
          // Whole blocks up to the next partial one, as many as the batch has room for.
          if (batchBytes + bs > ioBytes) await issue();
          const room = Math.floor((ioBytes - batchBytes) / bs);
          let e = s + 1;
          while (e < end && e - s < room && maskOf(e) === FULL) e++;
          batch.push({ start: s, count: e - s });
          batchBytes += (e - s) * bs;
          s = e;
        }
        if (batchBytes >= ioBytes || batch.length >= MAX_BATCH_ENTRIES) await issue();
      }
    }
    if (batch.length > 0) await issue();
    while (inflight.length > 0) await consume();
    if (object) await finishObject();
    await Promise.all(uploads);
    if (uploadError !== undefined) throw uploadError;
  } catch (err) {
    await Promise.allSettled([...inflight, ...uploads]);
    throw err;
  }
  return { objects, segments, lengths, flags, checksums, ...(partials > 0 ? { masks } : {}), progress };
}
