/**
 * Generations and chains (SPEC Fig. 17, S201-S204): list the generations of a lineage
 * from its catalogs, follow parent pointers to the first generation, and decide for
 * every block the newest generation holding it (the restore plan). Catalogs are read
 * through `readCatalog`, which takes the highest revision of a generation.
 */
import { BlockSet } from '../block/block-set.js';
import { fullMask } from '../block/grain-masks.js';
import { ReboundError } from '../errors.js';
import type { ObjectStore } from '../objectstore/types.js';
import { type BackupKeys, deriveKeys } from './crypto.js';
import {
  type Catalog,
  corrupt,
  decodeCatalog,
  decodeMetadata,
  type EntryIndex,
  indexEntries,
  type Metadata,
} from './format.js';
import { catalogKey, parseCatalogKey, protectedKey, ROOT, toGenerationKey, volumePrefix } from './keys.js';

export interface Generation {
  /** Stable name of the generation (a catalog key without its revision). */
  key: string;
  /** The catalog object read (highest revision). */
  catalogKey: string;
  catalog: Catalog;
  /** Marked as a failover base: retention never deletes it. */
  protected: boolean;
}

/** Unique IDs (as catalogs spell them) of every lineage in the store. */
export async function listLineages(store: ObjectStore): Promise<string[]> {
  const seen = new Map<string, string>();
  for await (const o of store.list(ROOT)) {
    const parsed = parseCatalogKey(o.key);
    if (!parsed) continue;
    const prefix = o.key.slice(0, o.key.indexOf('/catalog/'));
    if (seen.has(prefix)) continue;
    const gen = await readCatalog(store, parsed.genKey);
    seen.set(prefix, gen.catalog.uniqueId);
  }
  return [...seen.values()];
}

/** Every catalog object of a lineage: generation key -> revisions present (sorted). */
export async function listCatalogKeys(store: ObjectStore, uniqueId: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for await (const o of store.list(`${volumePrefix(uniqueId)}catalog/`)) {
    const p = parseCatalogKey(o.key);
    if (!p) continue;
    const revs = out.get(p.genKey) ?? [];
    revs.push(p.revision);
    out.set(p.genKey, revs);
  }
  for (const revs of out.values()) revs.sort((a, b) => a - b);
  return out;
}

/** The generations of a lineage, oldest first (by generation number, then ID). */
export async function listGenerations(store: ObjectStore, uniqueId: string): Promise<Generation[]> {
  const keys = await listCatalogKeys(store, uniqueId);
  const protectedSet = new Set<string>();
  for await (const o of store.list(`${volumePrefix(uniqueId)}protected/`)) protectedSet.add(o.key);
  const gens = await Promise.all(
    [...keys].map(async ([genKey, revs]) => {
      const ck = catalogKey(genKey, revs[revs.length - 1]);
      const catalog = decodeCatalog(ck, await store.get(ck));
      return { key: genKey, catalogKey: ck, catalog, protected: protectedSet.has(protectedKey(genKey)) };
    }),
  );
  return gens.sort(
    (a, b) => a.catalog.generation - b.catalog.generation || a.catalog.id.localeCompare(b.catalog.id),
  );
}

/** Read a generation's newest catalog. Throws OBJECT_NOT_FOUND naming the generation key. */
export async function readCatalog(store: ObjectStore, key: string): Promise<Generation> {
  const genKey = toGenerationKey(key);
  let best = -1;
  for await (const o of store.list(`${genKey}/`)) {
    const p = parseCatalogKey(o.key);
    if (p && p.genKey === genKey) best = Math.max(best, p.revision);
  }
  if (best < 0) {
    throw new ReboundError('OBJECT_NOT_FOUND', `generation ${genKey}: no catalog in ${store.description}`, {
      detail: { key: genKey },
    });
  }
  const ck = catalogKey(genKey, best);
  const catalog = decodeCatalog(ck, await store.get(ck));
  const isProtected = (await store.head(protectedKey(genKey))) !== undefined;
  return { key: genKey, catalogKey: ck, catalog, protected: isProtected };
}

/** The chain of a generation: first generation (a full) first, the given one last. */
export async function resolveChain(store: ObjectStore, key: string): Promise<Generation[]> {
  const chain: Generation[] = [];
  const seen = new Set<string>();
  let next: string | null = toGenerationKey(key);
  while (next !== null) {
    if (seen.has(next))
      throw new ReboundError('BACKUP_OBJECT_CORRUPT', `catalog chain loops at ${next}`, {
        detail: { key: next },
      });
    seen.add(next);
    let gen: Generation;
    try {
      gen = await readCatalog(store, next);
    } catch (err) {
      if (err instanceof ReboundError && err.code === 'OBJECT_NOT_FOUND' && chain.length > 0) {
        throw new ReboundError(
          'OBJECT_NOT_FOUND',
          `generation ${chain[chain.length - 1].key} names parent ${next}, which is missing from ${store.description}`,
          { detail: { key: next }, cause: err },
        );
      }
      throw err;
    }
    const child = chain[chain.length - 1];
    if (
      child &&
      (gen.catalog.uniqueId !== child.catalog.uniqueId ||
        gen.catalog.blockSizeBytes !== child.catalog.blockSizeBytes)
    ) {
      throw new ReboundError(
        'BACKUP_OBJECT_CORRUPT',
        `parent ${gen.key} is of another volume or block size than ${child.key}`,
        {
          detail: { key: gen.catalogKey },
        },
      );
    }
    chain.push(gen);
    next = gen.catalog.parent;
  }
  return chain.reverse();
}

/** Keys for a generation's encryption, checking the key ID; undefined when not encrypted. */
export function keysFor(
  catalog: Catalog,
  key: string,
  encryptionKey: Buffer | undefined,
): BackupKeys | undefined {
  if (!catalog.encryption) return undefined;
  if (!encryptionKey) {
    throw new ReboundError(
      'INVALID_ARGUMENT',
      `generation ${key} is encrypted: an encryption key is needed`,
      {
        detail: { key, field: 'encryptionKey' },
      },
    );
  }
  const keys = deriveKeys(encryptionKey);
  if (keys.keyId !== catalog.encryption.keyId) {
    throw new ReboundError(
      'INVALID_ARGUMENT',
      `generation ${key} was encrypted with key ${catalog.encryption.keyId}, not the key given (${keys.keyId})`,
      { detail: { key, field: 'encryptionKey' } },
    );
  }
  return keys;
}

export async function loadMetadata(
  store: ObjectStore,
  gen: Generation,
  keys: BackupKeys | undefined,
): Promise<Metadata> {
  const key = gen.catalog.metadataKey;
  const m = decodeMetadata(key, await store.get(key), keys);
  if (m.blockSizeBytes !== gen.catalog.blockSizeBytes) {
    throw new ReboundError('BACKUP_OBJECT_CORRUPT', `metadata ${key}: block size differs from its catalog`, {
      detail: { key },
    });
  }
  return m;
}

export interface LoadedGeneration {
  gen: Generation;
  meta: Metadata;
  index: EntryIndex;
  keys: BackupKeys | undefined;
}

/**
 * The restore plan: for each block, the newest generation of the chain holding it
 * (S205-S208 "apply the generations oldest first" gives the same bytes with each block
 * read once). `owner[b]` is 1 + the chain index, 0 when no generation holds the block
 * (it reads as zeros); `entry[b]` is the entry in that generation's metadata.
 */
export interface Plan {
  /** The generations loaded, oldest first (only the newest one with `newestOnly`). */
  chain: LoadedGeneration[];
  /** Every generation key of the chain, oldest first (loaded or not). */
  chainKeys: string[];
  sizeBytes: number;
  blockSizeBytes: number;
  sizeBlocks: number;
  owner: Uint16Array;
  entry: Uint32Array;
  /** Blocks some generation holds (data or zero entries). */
  held: BlockSet;
  /**
   * Blocks made of several entries (a partial entry over older ones, docs/formats/
   * backup.md "Partial entries"): the entries that supply them, newest first, each with
   * the grains it supplies. Grains none supplies read as zeros (with `newestOnly`: are
   * not part of the delta). `owner`/`entry` of such a block name its newest layer.
   */
  layers: Map<number, Layer[]>;
  /** The chain's grain size (0 when no entry is partial). */
  grainBytes: number;
}

/** One entry's share of a block built from several (Plan.layers). */
export interface Layer {
  /** Chain index of the generation. */
  gen: number;
  entry: number;
  /** The grains of the block this entry supplies. */
  grains: number;
}

/**
 * `newestOnly`: the chain is still resolved (every catalog read, so a broken chain fails
 * the same way), but only the newest generation's metadata is loaded and only its blocks
 * are in the plan: the others read as holes. For applying that generation as a delta
 * (restore's onlyNewest), where a full's metadata (37 bytes a block: 77 MB for 8 GiB of
 * 4 KiB blocks) would be fetched, hashed and indexed for nothing.
 */
export async function loadPlan(
  store: ObjectStore,
  key: string,
  encryptionKey?: Buffer,
  options: { newestOnly?: boolean } = {},
): Promise<Plan> {
  const resolved = await resolveChain(store, key);
  if (resolved.length > 0xfffe)
    throw new ReboundError('INVALID_ARGUMENT', `chain of ${resolved.length} generations is too long`);
  const gens = options.newestOnly ? resolved.slice(-1) : resolved;
  const chain = await Promise.all(
    gens.map(async (gen) => {
      const keys = keysFor(gen.catalog, gen.key, encryptionKey);
      const meta = await loadMetadata(store, gen, keys);
      return { gen, meta, index: indexEntries(meta), keys };
    }),
  );
  const last = gens[gens.length - 1].catalog;
  const blockSizeBytes = last.blockSizeBytes;
  const sizeBlocks = Math.ceil(last.sizeBytes / blockSizeBytes);
  const { owner, entry, held, layers, grainBytes } = resolveBlocks(chain, sizeBlocks, blockSizeBytes);
  return {
    chain,
    chainKeys: resolved.map((g) => g.key),
    sizeBytes: last.sizeBytes,
    blockSizeBytes,
    sizeBlocks,
    owner,
    entry,
    held,
    layers,
    grainBytes,
  };
}

/**
 * Which entry supplies each block of a chain (oldest first): the newest generation and,
 * within one, the last entry (a stacked entry lies over the one before it) wins, grain
 * by grain. `owner[b]` is 1 + the index in `gens` of the block's newest entry (0: none),
 * `entry[b]` that entry; blocks made of several entries are in `layers`, newest first,
 * each with the grains it supplies. The restore plan and retention's merge both use it.
 */
export function resolveBlocks(
  gens: readonly { meta: Metadata; index: EntryIndex; gen: Generation }[],
  sizeBlocks: number,
  blockSizeBytes: number,
): Pick<Plan, 'owner' | 'entry' | 'held' | 'layers' | 'grainBytes'> {
  const owner = new Uint16Array(sizeBlocks);
  const entry = new Uint32Array(sizeBlocks);
  const held = new BlockSet(sizeBlocks);
  const layers = new Map<number, Layer[]>();
  const covered = new Map<number, number>(); // grains of a layered block supplied so far
  let grainBytes = 0;
  for (const { meta, gen } of gens) {
    if (!meta.masks) continue;
    if (grainBytes !== 0 && meta.grainBytes !== grainBytes)
      throw corrupt(
        gen.catalog.metadataKey,
        `grain of ${meta.grainBytes} bytes differs from the chain's ${grainBytes}`,
      );
    grainBytes = meta.grainBytes ?? 0;
  }
  const full = grainBytes ? fullMask(blockSizeBytes / grainBytes) : 0;
  for (let g = gens.length - 1; g >= 0; g--) {
    const { index, meta } = gens[g];
    for (let e = index.blocks.length - 1; e >= 0; e--) {
      const b = index.blocks[e];
      if (b >= sizeBlocks) continue;
      const mask = meta.masks?.[e] ?? 0;
      const have = covered.get(b);
      if (have === undefined) {
        if (owner[b] !== 0) continue; // a whole entry supplied it
        owner[b] = g + 1;
        entry[b] = e;
        held.add(b);
        if (mask !== 0) {
          layers.set(b, [{ gen: g, entry: e, grains: mask }]);
          covered.set(b, mask);
        }
        continue;
      }
      const supply = ((mask === 0 ? full : mask) & ~have) >>> 0;
      if (supply === 0) continue;
      layers.get(b)!.push({ gen: g, entry: e, grains: supply });
      if ((have | supply) >>> 0 === full) covered.delete(b);
      else covered.set(b, (have | supply) >>> 0);
    }
  }
  return { owner, entry, held, layers, grainBytes };
}
