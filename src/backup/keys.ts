/**
 * Object keys of backups (docs/formats/backup.md, "Key layout"). Everything of one
 * volume lineage lives under one prefix named after its unique ID:
 *
 *   volumes/<uid>/catalog/<generation:010d>-<backupId>/r<revision:04d>   catalog (the commit)
 *   volumes/<uid>/meta/<metaId>                                          metadata
 *   volumes/<uid>/data/<backupId>/<sequence:06d>                         data objects
 *   volumes/<uid>/protected/<generation:010d>-<backupId>                 failover-base marker
 *
 * `volumes/<uid>/catalog/<generation>-<backupId>` (no revision) is the *generation key*:
 * the stable name of a generation. A catalog's parent field holds the parent's
 * generation key; retention merging writes a new revision of a child's catalog (keys are
 * write-once) and readers take the highest revision.
 *
 * A backup ID is `YYYYMMDDTHHMMSSZ-<8 hex>`: the time it started (orphan cleanup leaves
 * young objects alone) and 32 random bits.
 */
import { randomBytes } from 'node:crypto';
import { ReboundError } from '../errors.js';

export const ROOT = 'volumes/';

/** Escape a unique ID into one key segment: ':' becomes '-', other bytes outside [A-Za-z0-9.] become _XX. */
export function uidSegment(uniqueId: string): string {
  let out = '';
  for (const ch of Buffer.from(uniqueId, 'utf8')) {
    const c = String.fromCharCode(ch);
    if (/[A-Za-z0-9.]/.test(c)) out += c;
    else if (c === ':') out += '-';
    else out += `_${ch.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out === '' || out.startsWith('.')) out = `_${out}`;
  return out;
}

export function volumePrefix(uniqueId: string): string {
  return `${ROOT}${uidSegment(uniqueId)}/`;
}

const BACKUP_ID = /^(\d{8}T\d{6}Z)-[0-9a-f]{8}$/;

export function newBackupId(now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

/** The time a backup ID was made, or undefined when `id` is not one. */
export function backupIdTime(id: string): Date | undefined {
  const m = BACKUP_ID.exec(id);
  if (!m) return undefined;
  const s = m[1];
  return new Date(
    `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`,
  );
}

export function generationKey(uniqueId: string, generation: number, backupId: string): string {
  return `${volumePrefix(uniqueId)}catalog/${String(generation).padStart(10, '0')}-${backupId}`;
}

export function catalogKey(genKey: string, revision: number): string {
  return `${genKey}/r${String(revision).padStart(4, '0')}`;
}

export function metadataKey(uniqueId: string, metaId: string): string {
  return `${volumePrefix(uniqueId)}meta/${metaId}`;
}

export function dataPrefix(uniqueId: string, backupId: string): string {
  return `${volumePrefix(uniqueId)}data/${backupId}/`;
}

export function dataKey(uniqueId: string, backupId: string, sequence: number): string {
  return `${dataPrefix(uniqueId, backupId)}${String(sequence).padStart(6, '0')}`;
}

export function protectedKey(genKey: string): string {
  const i = genKey.lastIndexOf('/catalog/');
  return `${genKey.slice(0, i)}/protected/${genKey.slice(i + '/catalog/'.length)}`;
}

const CATALOG_KEY = /^(volumes\/[^/]+\/catalog\/(\d{10})-([^/]+))\/r(\d{4})$/;

/** Split a catalog key into its generation key and revision, or undefined. */
export function parseCatalogKey(
  key: string,
): { genKey: string; generation: number; backupId: string; revision: number } | undefined {
  const m = CATALOG_KEY.exec(key);
  if (!m) return undefined;
  return { genKey: m[1], generation: Number(m[2]), backupId: m[3], revision: Number(m[4]) };
}

/**
 * A test for the name of a volume's incremental backup bitmap while it counts from
 * generation `genKey` (writer.ts names it rbi.<store tag>.<backup id>): the blocks the
 * volume changed since that backup. Matches nothing when `genKey` is not a generation key.
 */
export function isIncrementalBitmapSince(genKey: string): (name: string) => boolean {
  const id = /\/catalog\/\d{10}-([^/]+)$/.exec(genKey)?.[1];
  return (name) => id !== undefined && /^rbi\.[A-Za-z0-9]{1,16}\./.test(name) && name.endsWith(`.${id}`);
}

/** The generation key a user passed, whether as a generation key or a catalog key. */
export function toGenerationKey(key: string): string {
  const parsed = parseCatalogKey(key);
  if (parsed) return parsed.genKey;
  if (/^volumes\/[^/]+\/catalog\/\d{10}-[^/]+$/.test(key)) return key;
  throw new ReboundError('INVALID_ARGUMENT', `${JSON.stringify(key)} is not a generation or catalog key`, {
    detail: { field: 'generation', key },
  });
}
