/**
 * Retention: delete generations without breaking any chain, keep-last/daily/weekly/
 * monthly rules, failover-base protection, and cleanup of uncommitted objects.
 *
 * Deleting generations. Keys are write-once, so a kept generation whose parent goes is
 * *merged*, never edited: a new metadata object (its own blocks over those of the
 * deleted ancestors, newest wins) pointing at the ancestors' existing data objects (no
 * block is copied), and a new revision of its catalog (`.../r0001`) whose parent is the
 * nearest kept ancestor, or null (it then becomes a full). Readers take the highest
 * revision, so the generation's key and ID stay the same and its children still point
 * at it. Order, each step safe to interrupt and repeat:
 *
 *   1 put merged metadata      2 put new catalog revisions (the commit of the merge)
 *   3 delete the catalogs of deleted generations and superseded revisions
 *   4 delete metadata and data objects no remaining catalog refers to
 *
 * Space of a deleted generation is freed once no catalog refers to its data objects
 * (`dataIds`); a data object partly used by a merged generation stays whole.
 * A generation with a `protected/` marker (a failover base) is never deleted.
 * Do not run a retention and a backup of the same lineage at once: a backup whose
 * parent is deleted meanwhile commits a catalog with a missing parent (verify reports it).
 */

import { ReboundError } from '../errors.js';
import type { ObjectStore } from '../objectstore/types.js';
import {
  type Generation,
  keysFor,
  listCatalogKeys,
  listGenerations,
  loadMetadata,
  readCatalog,
  resolveBlocks,
} from './chain.js';
import type { BackupKeys } from './crypto.js';
import { CHECKSUM_BYTES } from './crypto.js';
import {
  BLOCK_STACKED,
  BLOCK_ZERO,
  type Catalog,
  type Compression,
  decodeCatalog,
  type EntryIndex,
  encodeCatalog,
  encodeMetadata,
  indexEntries,
  type Metadata,
  NO_OBJECT,
  type Segment,
} from './format.js';
import {
  backupIdTime,
  catalogKey,
  metadataKey,
  newBackupId,
  protectedKey,
  toGenerationKey,
  volumePrefix,
} from './keys.js';

export interface DeleteOptions {
  encryptionKey?: Buffer;
  now?: () => Date;
}

export interface DeleteResult {
  deleted: string[];
  /** Kept generations merged with deleted ancestors: the new catalog revision written. */
  merged: { generation: string; catalogKey: string; absorbed: string[] }[];
  objectsDeleted: number;
}

/** Mark a generation as a failover base: retention and delete refuse it. */
export async function protectGeneration(store: ObjectStore, key: string, note = ''): Promise<void> {
  const gen = await readCatalog(store, key);
  if (gen.protected) return;
  const body = Buffer.from(JSON.stringify({ protectedAt: new Date().toISOString(), note }), 'utf8');
  await store.put(protectedKey(gen.key), body);
}

export async function unprotectGeneration(store: ObjectStore, key: string): Promise<void> {
  await store.delete(protectedKey(toGenerationKey(key)));
}

/** Delete one generation (see deleteGenerations). */
export async function deleteGeneration(
  store: ObjectStore,
  key: string,
  options: DeleteOptions = {},
): Promise<DeleteResult> {
  const gen = await readCatalog(store, key);
  return deleteGenerations(store, gen.catalog.uniqueId, [gen.key], options);
}

/** Delete generations of one lineage, merging kept descendants so every chain still restores. */
export async function deleteGenerations(
  store: ObjectStore,
  uniqueId: string,
  keys: string[],
  options: DeleteOptions = {},
): Promise<DeleteResult> {
  const now = options.now ?? (() => new Date());
  const gens = await listGenerations(store, uniqueId);
  const byKey = new Map(gens.map((g) => [g.key, g]));
  const doomed = new Set<string>();
  for (const k of keys) {
    const gk = toGenerationKey(k);
    const g = byKey.get(gk);
    if (!g)
      throw new ReboundError('OBJECT_NOT_FOUND', `generation ${gk} not found in ${store.description}`, {
        detail: { key: gk },
      });
    if (g.protected) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `generation ${gk} is protected (a failover base); unprotect it first`,
        {
          detail: { key: gk },
        },
      );
    }
    doomed.add(gk);
  }

  // Plan the merges: each kept generation absorbs its run of doomed ancestors.
  const merges: { gen: Generation; absorbed: Generation[]; parent: string | null }[] = [];
  for (const g of gens) {
    if (doomed.has(g.key)) continue;
    const absorbed: Generation[] = [];
    let p = g.catalog.parent;
    while (p !== null && doomed.has(p)) {
      const a = byKey.get(p)!;
      absorbed.push(a);
      p = a.catalog.parent;
    }
    if (absorbed.length > 0) merges.push({ gen: g, absorbed, parent: p });
  }

  // 1-2: write merged metadata, then the new catalog revisions.
  const result: DeleteResult = { deleted: [], merged: [], objectsDeleted: 0 };
  const written: { gen: Generation; catalog: Catalog }[] = [];
  for (const m of merges) {
    const catalog = await merge(store, m.gen, m.absorbed, m.parent, options.encryptionKey, now);
    written.push({ gen: m.gen, catalog });
  }
  for (const w of written) {
    const ck = catalogKey(w.gen.key, w.catalog.revision);
    await store.put(ck, encodeCatalog(w.catalog));
    result.merged.push({
      generation: w.gen.key,
      catalogKey: ck,
      absorbed: merges.find((m) => m.gen === w.gen)!.absorbed.map((a) => a.key),
    });
  }

  // 3: catalogs of deleted generations, and superseded revisions of kept ones.
  const latest = new Map<string, Catalog>();
  for (const g of gens) if (!doomed.has(g.key)) latest.set(g.key, g.catalog);
  for (const w of written) latest.set(w.gen.key, w.catalog);
  const candidatesMeta = new Set<string>();
  const candidatesData = new Set<string>();
  const revisions = await listCatalogKeys(store, uniqueId);
  for (const [gk, revs] of revisions) {
    const keep = latest.get(gk);
    for (const r of revs) {
      if (keep && r === keep.revision) continue;
      const ck = catalogKey(gk, r);
      if (!keep || r < keep.revision) {
        const old = byKey.get(gk);
        if (old) {
          candidatesMeta.add(old.catalog.metadataKey);
          for (const id of old.catalog.dataIds) candidatesData.add(id);
        }
        await store.delete(ck);
        result.objectsDeleted++;
      }
    }
    if (!keep) result.deleted.push(gk);
  }

  // 4: metadata and data no remaining catalog refers to.
  const usedMeta = new Set([...latest.values()].map((c) => c.metadataKey));
  const usedData = new Set([...latest.values()].flatMap((c) => c.dataIds));
  for (const k of candidatesMeta) {
    if (usedMeta.has(k)) continue;
    await store.delete(k);
    result.objectsDeleted++;
  }
  for (const id of candidatesData) {
    if (usedData.has(id)) continue;
    result.objectsDeleted += await deletePrefix(store, `${volumePrefix(uniqueId)}data/${id}/`);
  }
  return result;
}

async function deletePrefix(store: ObjectStore, prefix: string): Promise<number> {
  const keys: string[] = [];
  for await (const o of store.list(prefix)) keys.push(o.key);
  await Promise.all(keys.map((k) => store.delete(k)));
  return keys.length;
}

/**
 * Write the metadata of `gen` merged with its doomed ancestors (newest first in
 * `absorbed`) and return the catalog revision that points at it (not yet written).
 */
async function merge(
  store: ObjectStore,
  gen: Generation,
  absorbed: Generation[],
  parent: string | null,
  encryptionKey: Buffer | undefined,
  now: () => Date,
): Promise<Catalog> {
  const layers = [gen, ...absorbed]; // newest first
  const keys: BackupKeys | undefined = keysFor(gen.catalog, gen.key, encryptionKey);
  const metas: { meta: Metadata; index: EntryIndex; gen: Generation }[] = [];
  for (const g of layers) {
    const k = keysFor(g.catalog, g.key, encryptionKey);
    if ((k?.keyId ?? null) !== (keys?.keyId ?? null)) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `cannot merge ${g.key} into ${gen.key}: different encryption`,
      );
    }
    const meta = await loadMetadata(store, g, k);
    metas.unshift({ meta, index: indexEntries(meta), gen: g }); // oldest first
  }
  const blockSizeBytes = gen.catalog.blockSizeBytes;
  const sizeBlocks = Math.ceil(gen.catalog.sizeBytes / blockSizeBytes);
  // Each block from its newest entry (chain.ts resolveBlocks). A partial entry leaves the
  // rest of its block to older entries: those that supply any grain it lacks are kept
  // under it (`stacks`), as stacked entries.
  const {
    owner,
    entry: entryOf,
    held: bitmap,
    layers: stacks,
    grainBytes,
  } = resolveBlocks(metas, sizeBlocks, blockSizeBytes);
  let n = bitmap.count();
  for (const stack of stacks.values()) n += stack.length - 1;
  const lengths = new Uint32Array(n);
  const flags = new Uint8Array(n);
  const checksums = Buffer.alloc(n * CHECKSUM_BYTES);
  const masks = grainBytes ? new Uint32Array(n) : undefined;
  const objects: string[] = [];
  const objectIndex = new Map<string, number>();
  const segments: Segment[] = [];
  let storedBytes = 0;
  let i = 0;
  let segEnd = -1; // offset where the current segment's next payload must start
  for (const run of bitmap.runs()) {
    for (let b = run.start; b < run.start + run.count; b++) {
      // Oldest first: each stacked entry lies over the one before it.
      const picks = stacks.get(b)?.slice().reverse() ?? [{ gen: owner[b] - 1, entry: entryOf[b] }];
      for (let k = 0; k < picks.length; k++, i++) {
        const { meta, index } = metas[picks[k].gen];
        const e = picks[k].entry;
        lengths[i] = meta.lengths[e];
        flags[i] = (meta.flags[e] & ~BLOCK_STACKED) | (k > 0 ? BLOCK_STACKED : 0);
        if (masks) masks[i] = meta.masks?.[e] ?? 0;
        meta.checksums.copy(checksums, i * CHECKSUM_BYTES, e * CHECKSUM_BYTES, (e + 1) * CHECKSUM_BYTES);
        storedBytes += lengths[i];
        const last = segments[segments.length - 1];
        const isZero = (flags[i] & BLOCK_ZERO) !== 0 && lengths[i] === 0;
        if (isZero || index.object[e] === NO_OBJECT) {
          if (last) last.count++;
          else segments.push({ object: NO_OBJECT, offset: 0, count: 1 });
          continue;
        }
        const objKey = meta.objects[index.object[e]];
        let o = objectIndex.get(objKey);
        if (o === undefined) {
          o = objects.length;
          objects.push(objKey);
          objectIndex.set(objKey, o);
        }
        const at = index.offset[e];
        if (last && last.object === o && segEnd === at) last.count++;
        else segments.push({ object: o, offset: at, count: 1 });
        segEnd = at + lengths[i];
      }
    }
  }
  const merged: Metadata = {
    blockSizeBytes: gen.catalog.blockSizeBytes,
    bitmap,
    compression: mergedCodec(metas.map((m) => m.meta.compression)),
    keyed: keys !== undefined,
    encrypted: keys !== undefined,
    objects,
    segments,
    lengths,
    flags,
    checksums,
    ...(masks?.some((m) => m !== 0) ? { grainBytes, masks } : {}),
  };
  const metaKey = metadataKey(gen.catalog.uniqueId, newBackupId(now()));
  await store.put(metaKey, encodeMetadata(metaKey, merged, keys));
  const dataIds = [...new Set(layers.flatMap((g) => g.catalog.dataIds))];
  return {
    ...gen.catalog,
    revision: gen.catalog.revision + 1,
    merged: true,
    method: parent === null ? 'full' : gen.catalog.method,
    parent,
    metadataKey: metaKey,
    dataIds,
    blockCount: n,
    storedBytes,
    compression: merged.compression,
  };
}

export interface RetentionRules {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
}

export interface RetentionOptions extends RetentionRules, DeleteOptions {
  /** Compute and return the plan without deleting. */
  dryRun?: boolean;
}

export interface RetentionResult {
  keep: { generation: string; reasons: string[] }[];
  remove: string[];
  result?: DeleteResult;
}

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86400000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/**
 * Apply keep rules (as restic and Proxmox define them, in UTC): the newest `keepLast`;
 * the newest generation of each of the last `keepDaily` days (weeks, months) that have
 * one. Protected generations are always kept. Everything else is deleted (merging).
 */
export async function applyRetention(
  store: ObjectStore,
  uniqueId: string,
  options: RetentionOptions,
): Promise<RetentionResult> {
  const rules: [keyof RetentionRules, string, (d: Date) => string][] = [
    ['keepDaily', 'daily', (d) => d.toISOString().slice(0, 10)],
    ['keepWeekly', 'weekly', isoWeek],
    ['keepMonthly', 'monthly', (d) => d.toISOString().slice(0, 7)],
  ];
  const counts = [options.keepLast, options.keepDaily, options.keepWeekly, options.keepMonthly];
  for (const c of counts) {
    if (c !== undefined && (!Number.isSafeInteger(c) || c < 0)) {
      throw new ReboundError('INVALID_ARGUMENT', `keep counts must be whole numbers >= 0`, {
        detail: { field: 'keep' },
      });
    }
  }
  if (!counts.some((c) => (c ?? 0) > 0)) {
    throw new ReboundError('INVALID_ARGUMENT', 'no keep rule given: that would delete every generation', {
      detail: { field: 'keep' },
    });
  }
  const gens = (await listGenerations(store, uniqueId)).sort(
    (a, b) => b.catalog.time.localeCompare(a.catalog.time) || b.catalog.generation - a.catalog.generation,
  );
  const reasons = new Map<string, string[]>();
  const keep = (g: Generation, why: string) => reasons.set(g.key, [...(reasons.get(g.key) ?? []), why]);
  for (const g of gens.slice(0, options.keepLast ?? 0)) keep(g, 'last');
  for (const [field, label, bucketOf] of rules) {
    const n = options[field] ?? 0;
    const seen = new Set<string>();
    for (const g of gens) {
      if (seen.size >= n) break;
      const bucket = bucketOf(new Date(g.catalog.time));
      if (seen.has(bucket)) continue;
      seen.add(bucket);
      keep(g, label);
    }
  }
  for (const g of gens) if (g.protected) keep(g, 'protected');
  const remove = gens.filter((g) => !reasons.has(g.key)).map((g) => g.key);
  const out: RetentionResult = {
    keep: gens
      .filter((g) => reasons.has(g.key))
      .map((g) => ({ generation: g.key, reasons: reasons.get(g.key)! })),
    remove,
  };
  if (!options.dryRun && remove.length > 0)
    out.result = await deleteGenerations(store, uniqueId, remove, options);
  return out;
}

export interface CleanupOptions {
  /** Only this lineage; default every lineage in the store. */
  uniqueId?: string;
  /** Objects of backups younger than this are left alone (they may be in progress). Default 24 h. */
  graceMs?: number;
  now?: () => Date;
  dryRun?: boolean;
}

/**
 * Delete metadata and data objects no catalog refers to (backups that never committed,
 * merges interrupted before their catalog), once older than the grace period.
 */
export async function cleanupOrphans(
  store: ObjectStore,
  options: CleanupOptions = {},
): Promise<{ deleted: string[] }> {
  const now = (options.now ?? (() => new Date()))().getTime();
  const grace = options.graceMs ?? 24 * 3600 * 1000;
  const uids = options.uniqueId ? [options.uniqueId] : await listLineagePrefixes(store);
  const deleted: string[] = [];
  for (const uid of uids) {
    const prefix = options.uniqueId ? volumePrefix(uid) : uid;
    const usedMeta = new Set<string>();
    const usedData = new Set<string>();
    const all: string[] = [];
    for await (const o of store.list(prefix)) all.push(o.key);
    let damaged = false;
    for (const k of all) {
      if (!k.startsWith(`${prefix}catalog/`)) continue;
      try {
        const c = decodeCatalog(k, await store.get(k));
        usedMeta.add(c.metadataKey);
        for (const id of c.dataIds) usedData.add(id);
      } catch {
        damaged = true; // cannot tell what it refers to: leave this lineage alone
      }
    }
    if (damaged) continue;
    const old = (id: string) => {
      const t = backupIdTime(id);
      return t !== undefined && now - t.getTime() > grace;
    };
    for (const k of all) {
      const rest = k.slice(prefix.length);
      let orphan = false;
      if (rest.startsWith('meta/')) orphan = !usedMeta.has(k) && old(rest.slice(5));
      else if (rest.startsWith('data/')) {
        const id = rest.slice(5).split('/')[0];
        orphan = !usedData.has(id) && old(id);
      }
      if (!orphan) continue;
      if (!options.dryRun) await store.delete(k);
      deleted.push(k);
    }
  }
  return { deleted };
}

/** Prefixes `volumes/<uid>/` present in the store (with or without catalogs). */
async function listLineagePrefixes(store: ObjectStore): Promise<string[]> {
  const out = new Set<string>();
  for await (const o of store.list('volumes/')) {
    const i = o.key.indexOf('/', 'volumes/'.length);
    if (i > 0) out.add(o.key.slice(0, i + 1));
  }
  return [...out];
}

/** The codec byte of a merged metadata: the one codec its layers used, else 'mixed'. */
function mergedCodec(codecs: Compression[]): Compression {
  const used = new Set(codecs.filter((c) => c !== 'none'));
  if (used.size === 0) return 'none';
  return used.size === 1 ? [...used][0] : 'mixed';
}
