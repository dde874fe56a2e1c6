/**
 * The node's registered object stores (SPEC Fig. 9: the service that provides it, a
 * name, the region, access key ID, secret key, bucket (set automatically when left
 * empty), the encryption method, extra tags). Kept in `stores.json` in the node's data
 * directory with every secret sealed by the node's SecretBox; views never carry them.
 *
 * The backup encryption key (client-side AES-256-GCM) belongs to the operator: it is
 * given at registration (64 hex digits) and never goes into the bucket, so a secondary
 * site restoring the backups registers the store with the same key.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ReboundError } from '../errors.js';
import type { StoreConfig } from '../objectstore/index.js';
import type { SecretBox } from '../secrets.js';

export type StoreProvider = 'directory' | 's3';
export type StoreEncryption = 'none' | 'aes-256-gcm';

/** What a registration asks for. Secrets in plain text here, sealed at rest. */
export interface StoreRegistration {
  name: string;
  provider: StoreProvider;
  /** directory: where the objects go. */
  path?: string;
  /** s3: the service endpoint (empty for AWS itself). */
  endpoint?: string;
  region?: string;
  bucket?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  encryption?: StoreEncryption;
  /** 64 hex digits, required when encryption is aes-256-gcm. */
  encryptionKey?: string;
  tags?: Record<string, string>;
}

/** A store as the API shows it: no secret, only whether one is set. */
export interface StoreView {
  name: string;
  provider: StoreProvider;
  path: string | null;
  endpoint: string | null;
  region: string | null;
  bucket: string | null;
  accessKeyId: string | null;
  hasSecretKey: boolean;
  encryption: StoreEncryption;
  tags: Record<string, string>;
  createdAt: string;
}

interface StoredStore extends Omit<StoreView, 'hasSecretKey'> {
  sealedSecretKey: string | null;
  sealedEncryptionKey: string | null;
}

const FILE = 'stores.json';

export class StoreRegistry {
  private constructor(
    private readonly dataDir: string,
    private readonly box: SecretBox,
    private stores: StoredStore[],
  ) {}

  static async open(dataDir: string, box: SecretBox): Promise<StoreRegistry> {
    let stores: StoredStore[] = [];
    try {
      stores = JSON.parse(await readFile(join(dataDir, FILE), 'utf8')) as StoredStore[];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return new StoreRegistry(dataDir, box, stores);
  }

  list(): StoreView[] {
    return this.stores.map(view);
  }

  get(name: string): StoreView {
    return view(this.find(name));
  }

  async add(reg: StoreRegistration, serial: string): Promise<StoreView> {
    if (this.stores.some((s) => s.name === reg.name)) {
      throw new ReboundError('ALREADY_EXISTS', `a store named ${reg.name} is already registered`);
    }
    checkStoreRegistration(reg);
    const encryption = reg.encryption ?? 'none';
    const stored: StoredStore = {
      name: reg.name,
      provider: reg.provider,
      path: reg.path ?? null,
      endpoint: reg.endpoint || null,
      region: reg.region || (reg.provider === 's3' ? 'us-east-1' : null),
      // SPEC Fig. 9: the bucket name is set automatically when left empty.
      bucket:
        reg.provider === 's3'
          ? reg.bucket || `rebound-${serial.toLowerCase()}-${randomBytes(3).toString('hex')}`
          : null,
      accessKeyId: reg.accessKeyId ?? null,
      sealedSecretKey: reg.secretAccessKey ? this.box.seal(reg.secretAccessKey) : null,
      encryption,
      sealedEncryptionKey: encryption === 'none' ? null : this.box.seal(reg.encryptionKey!),
      tags: reg.tags ?? {},
      createdAt: new Date().toISOString(),
    };
    this.stores.push(stored);
    await this.save();
    return view(stored);
  }

  async remove(name: string): Promise<void> {
    this.find(name);
    this.stores = this.stores.filter((s) => s.name !== name);
    await this.save();
  }

  /** What the object store layer needs to open it (secrets opened). */
  storeConfig(name: string): StoreConfig {
    const s = this.find(name);
    if (s.provider === 'directory') return { kind: 'directory', path: s.path! };
    return {
      kind: 's3',
      endpoint: s.endpoint ?? undefined,
      region: s.region ?? 'us-east-1',
      bucket: s.bucket!,
      accessKeyId: s.accessKeyId!,
      secretAccessKey: this.box.open(s.sealedSecretKey!),
      createBucket: true,
    };
  }

  /** The backup encryption key, or undefined when the store's backups are not encrypted. */
  encryptionKey(name: string): Buffer | undefined {
    const s = this.find(name);
    return s.sealedEncryptionKey ? Buffer.from(this.box.open(s.sealedEncryptionKey), 'hex') : undefined;
  }

  private find(name: string): StoredStore {
    const s = this.stores.find((x) => x.name === name);
    if (!s)
      throw new ReboundError(
        'NOT_FOUND',
        `no store named ${name} is registered (see \`rebound store list\`)`,
      );
    return s;
  }

  private async save(): Promise<void> {
    const path = join(this.dataDir, FILE);
    await writeFile(`${path}.tmp`, `${JSON.stringify(this.stores, null, 2)}\n`, { mode: 0o600 });
    await rename(`${path}.tmp`, path);
  }
}

/**
 * What a registration must carry for its provider and encryption (SPEC Fig. 9). The node
 * and the manager both call it, so a store refused by one is refused by the other.
 */
export function checkStoreRegistration(reg: Omit<StoreRegistration, 'name'>): void {
  if ((reg.encryption ?? 'none') === 'aes-256-gcm' && !/^[0-9a-fA-F]{64}$/.test(reg.encryptionKey ?? '')) {
    throw new ReboundError('INVALID_ARGUMENT', 'encryptionKey: aes-256-gcm needs a key of 64 hex digits', {
      detail: { field: 'encryptionKey' },
    });
  }
  if (reg.provider === 'directory' && !reg.path) {
    throw new ReboundError('INVALID_ARGUMENT', 'path: a directory store needs a path', {
      detail: { field: 'path' },
    });
  }
  if (reg.provider === 's3' && !(reg.accessKeyId && reg.secretAccessKey)) {
    throw new ReboundError(
      'INVALID_ARGUMENT',
      'accessKeyId: an S3 store needs accessKeyId and secretAccessKey',
      {
        detail: { field: reg.accessKeyId ? 'secretAccessKey' : 'accessKeyId' },
      },
    );
  }
}

function view(s: StoredStore): StoreView {
  const { sealedSecretKey, sealedEncryptionKey: _key, ...rest } = s;
  return { ...rest, hasSecretKey: sealedSecretKey !== null };
}
