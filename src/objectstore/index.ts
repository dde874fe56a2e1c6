/**
 * objectstore/: where backups live. One interface, `ObjectStore` (types.ts, with its
 * contract in MUST words), and its implementations: a local directory, the embedded
 * default, and S3 through the AWS SDK v3 (any endpoint). The backup engine writes data
 * objects, metadata and catalogs through it and relies on three things whatever the
 * store: keys are written once and never overwritten, a put is all-or-nothing, and a
 * missing object is an error naming the key. Every implementation runs one conformance
 * suite (test/helpers/objectstore-conformance.ts).
 *
 * Nothing here imports anything above it (DESIGN.md, "Folders").
 */
import { ReboundError } from '../errors.js';
import { DirectoryStore } from './directory-store.js';
import { S3Store, type S3StoreOptions } from './s3-store.js';
import type { ObjectStore } from './types.js';

export { DirectoryStore, type DirectoryStoreOptions } from './directory-store.js';
export { type Fault, FaultyStore, type FaultyStoreOptions } from './faulty-store.js';
export { checkKey, checkPrefix, MAX_KEY_BYTES, MAX_SEGMENT_BYTES } from './keys.js';
export { S3Store, type S3StoreOptions } from './s3-store.js';
export type { ObjectInfo, ObjectStore } from './types.js';

/** A store as a registration describes it. */
export type StoreConfig =
  | { kind: 'directory'; path: string; maxConcurrency?: number }
  | ({ kind: 's3' } & Omit<S3StoreOptions, keyof StoreHooks>);

/** What the opener of a store knows of it, and is told while it is in use (S3 only). */
export interface StoreHooks {
  /** An S3 store stopped answering and is waited for, or answers again (S3StoreOptions.onOutage). */
  onOutage?: (message: string) => void;
  /** It answered an earlier job: wait for it from the first request (S3StoreOptions.answeredBefore). */
  answeredBefore?: boolean;
  /** Its first answer in this use (S3StoreOptions.onAnswered). */
  onAnswered?: () => void;
}

/**
 * Build the store a config describes. An S3 config with `createBucket` gets its bucket
 * created now (or finds it there), so a wrong endpoint or key fails here, not mid-backup.
 */
export async function openStore(config: StoreConfig, hooks: StoreHooks = {}): Promise<ObjectStore> {
  switch (config?.kind) {
    case 'directory':
      return new DirectoryStore(config.path, { maxConcurrency: config.maxConcurrency });
    case 's3': {
      const { kind: _kind, ...options } = config;
      const store = new S3Store({ ...options, ...hooks });
      if (options.createBucket) {
        try {
          await store.ensureBucket();
        } catch (err) {
          await store.close();
          throw err;
        }
      }
      return store;
    }
    default:
      throw new ReboundError('INVALID_ARGUMENT', 'store config: kind must be "directory" or "s3"', {
        detail: { field: 'kind' },
      });
  }
}
