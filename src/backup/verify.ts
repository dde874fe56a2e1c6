/**
 * Verify: re-read every block of one generation (optionally its whole chain), or of
 * every generation in the store or of one lineage, and check it: catalog and metadata
 * checksums, data object headers, each block's authentication (encrypted backups),
 * decompression, length and checksum, and that parents exist. Every data object is read
 * once, whole, even when several generations refer to it (merged generations do).
 * Problems are collected, not thrown: each names the object key and, for a block, its
 * address, so an operator knows exactly what is damaged or missing.
 */
import { type ErrorCode, isReboundError, ReboundError } from '../errors.js';
import type { ObjectStore } from '../objectstore/types.js';
import {
  type Generation,
  keysFor,
  listGenerations,
  listLineages,
  loadMetadata,
  readCatalog,
  resolveChain,
} from './chain.js';
import type { BackupKeys } from './crypto.js';
import {
  BLOCK_ZERO,
  corrupt,
  DATA_HEADER_BYTES,
  decodeBlock,
  decodeDataHeader,
  entryBytes,
  indexEntries,
  NO_OBJECT,
} from './format.js';

export interface VerifyProblem {
  /** The object that is missing or damaged (or the generation key for a missing parent). */
  key: string;
  code: ErrorCode;
  message: string;
  /** Generation key the problem was found under. */
  generation: string;
  /** Block address, for a block that failed. */
  block?: number;
}

export interface VerifyReport {
  ok: boolean;
  generations: string[];
  objectsChecked: number;
  blocksChecked: number;
  bytesRead: number;
  problems: VerifyProblem[];
}

export interface VerifyOptions {
  encryptionKey?: Buffer;
  /** Objects read at once. Default 4. */
  concurrency?: number;
  /** At most this many problems are listed (all are counted in `ok`). Default 1000. */
  maxProblems?: number;
}

function problemOf(err: unknown, key: string, generation: string, block?: number): VerifyProblem {
  if (isReboundError(err)) {
    const k = typeof err.detail?.key === 'string' ? err.detail.key : key;
    const b = typeof err.detail?.block === 'number' ? err.detail.block : block;
    return {
      key: k,
      code: err.code,
      message: err.message,
      generation,
      ...(b === undefined ? {} : { block: b }),
    };
  }
  return { key, code: 'INTERNAL', message: String(err), generation };
}

/** Verify one generation, or with `chain: true` every generation its restore needs. */
export async function verifyGeneration(
  store: ObjectStore,
  key: string,
  options: VerifyOptions & { chain?: boolean } = {},
): Promise<VerifyReport> {
  if (options.chain) {
    try {
      return await verifyGenerations(store, await resolveChain(store, key), options, true);
    } catch (err) {
      if (!isReboundError(err)) throw err;
      return report([], [problemOf(err, key, key)]);
    }
  }
  let gen: Generation;
  try {
    gen = await readCatalog(store, key);
  } catch (err) {
    if (!isReboundError(err)) throw err;
    return report([], [problemOf(err, key, key)]);
  }
  return verifyGenerations(store, [gen], options, true);
}

/** Verify every generation of one lineage, or of every lineage in the store. */
export async function verifyStore(
  store: ObjectStore,
  options: VerifyOptions & { uniqueId?: string } = {},
): Promise<VerifyReport> {
  const uids = options.uniqueId ? [options.uniqueId] : await listLineages(store);
  const gens: Generation[] = [];
  for (const uid of uids) gens.push(...(await listGenerations(store, uid)));
  return verifyGenerations(store, gens, options, false);
}

function report(generations: string[], problems: VerifyProblem[]): VerifyReport {
  return {
    ok: problems.length === 0,
    generations,
    objectsChecked: 0,
    blocksChecked: 0,
    bytesRead: 0,
    problems,
  };
}

interface Check {
  gen: Generation;
  keys: BackupKeys | undefined;
  block: number;
  offset: number;
  length: number;
  /** Plaintext bytes: the block, or a partial entry's grains. */
  plainBytes: number;
  flags: number;
  checksum: Buffer;
}

async function verifyGenerations(
  store: ObjectStore,
  gens: Generation[],
  options: VerifyOptions,
  checkParentsByRead: boolean,
): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  let problemCount = 0;
  const maxProblems = options.maxProblems ?? 1000;
  const add = (p: VerifyProblem) => {
    problemCount++;
    if (problems.length < maxProblems) problems.push(p);
  };
  const out = { objectsChecked: 0, blocksChecked: 0, bytesRead: 0 };
  const present = new Set(gens.map((g) => g.key));

  // Object key -> the blocks to check in it.
  const perObject = new Map<string, Check[]>();
  for (const gen of gens) {
    const parent = gen.catalog.parent;
    if (parent !== null && !present.has(parent)) {
      const exists = checkParentsByRead
        ? await readCatalog(store, parent).then(
            () => true,
            () => false,
          )
        : false;
      if (!exists) {
        add({
          key: parent,
          code: 'OBJECT_NOT_FOUND',
          message: `parent generation ${parent} is missing`,
          generation: gen.key,
        });
      }
    }
    try {
      const keys = keysFor(gen.catalog, gen.key, options.encryptionKey);
      const meta = await loadMetadata(store, gen, keys);
      const index = indexEntries(meta);
      for (let e = 0; e < meta.lengths.length; e++) {
        out.blocksChecked++;
        const object = index.object[e];
        if (meta.flags[e] & BLOCK_ZERO || object === NO_OBJECT) continue;
        const objKey = meta.objects[object];
        const list = perObject.get(objKey) ?? [];
        list.push({
          gen,
          keys,
          block: index.blocks[e],
          offset: index.offset[e],
          length: meta.lengths[e],
          plainBytes: entryBytes(meta, e),
          flags: meta.flags[e],
          checksum: meta.checksums.subarray(e * 32, e * 32 + 32),
        });
        perObject.set(objKey, list);
      }
    } catch (err) {
      if (!isReboundError(err)) throw err;
      add(problemOf(err, gen.catalog.metadataKey, gen.key));
    }
  }

  const queue = [...perObject.entries()];
  const worker = async () => {
    for (;;) {
      const next = queue.shift();
      if (!next) return;
      const [objKey, checks] = next;
      let buf: Buffer;
      try {
        buf = await store.get(objKey);
        decodeDataHeader(objKey, buf);
      } catch (err) {
        if (!isReboundError(err)) throw err;
        add(problemOf(err, objKey, checks[0].gen.key));
        continue;
      }
      out.objectsChecked++;
      out.bytesRead += buf.length;
      for (const c of checks) {
        try {
          if (c.offset < DATA_HEADER_BYTES || c.offset + c.length > buf.length) {
            throw corrupt(objKey, `block ${c.block} lies past the end of the object (${buf.length} bytes)`, {
              block: c.block,
            });
          }
          decodeBlock(buf.subarray(c.offset, c.offset + c.length), c.flags, c.checksum, {
            blockSizeBytes: c.plainBytes,
            keys: c.keys,
            uniqueId: c.gen.catalog.uniqueId,
            block: c.block,
            where: objKey,
          });
        } catch (err) {
          if (!(err instanceof ReboundError)) throw err;
          add(problemOf(err, objKey, c.gen.key, c.block));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  return { ok: problemCount === 0, generations: gens.map((g) => g.key), ...out, problems };
}
