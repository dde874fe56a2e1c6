/**
 * The node control API's request and response types, declared once (STYLE.md point 12):
 * fastify validates requests with these schemas, and the API client and the CLI take
 * their types from them.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Nullable, StringEnum } from '../http/index.js';

const Name = Type.String({
  pattern: '^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$',
  description: 'a name: 1-64 of A-Z a-z 0-9 . _ -',
});

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
});

export const PoolInfo = Type.Object({
  name: Type.String(),
  blockSizeBytes: Type.Integer(),
  capacityBytes: Type.Integer(),
  usedBytes: Type.Integer(),
  freeBytes: Type.Integer(),
  /** What the drive files take on their file systems (sparse: the blocks written). */
  diskBytes: Type.Integer(),
  drives: Type.Array(Type.Object({ path: Type.String(), sizeBytes: Type.Integer() })),
});

export const NodeIdentity = Type.Object({
  serial: Type.String(),
  version: Type.String(),
  nbd: Type.Object({ host: Type.String(), port: Type.Integer(), tls: Type.String() }),
  pool: PoolInfo,
});

export const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  serial: Type.String(),
  uptimeSeconds: Type.Number(),
  volumes: Type.Integer(),
  nbdConnections: Type.Integer(),
  poolFreeBytes: Type.Integer(),
});

export const VolumeInfo = Type.Object({
  name: Type.String(),
  serial: Type.String(),
  number: Type.Integer(),
  uniqueId: Type.String(),
  inheritedUniqueId: Nullable(Type.String()),
  pool: Type.String(),
  sizeBytes: Type.Integer(),
  usedBytes: Type.Integer(),
  createdAt: Type.String(),
  fenced: Type.Boolean(),
  snapshots: Type.Array(Type.String()),
  bitmaps: Type.Array(Type.String()),
  /** Where hosts reach it: nbd://host:port/name */
  nbdUri: Type.String(),
});

export const SnapshotInfo = Type.Object({
  volume: Type.String(),
  name: Type.String(),
  sizeBytes: Type.Integer(),
  createdAt: Type.String(),
  nbdUri: Type.String(),
});

export const BitmapInfo = Type.Object({
  volume: Type.String(),
  name: Type.String(),
  active: Type.Boolean(),
  dirtyBlocks: Type.Integer(),
  blockSizeBytes: Type.Integer(),
  grainBytes: Type.Integer({
    description:
      'unit of the bits of GET .../encoded?unit=grain: the grain the volume tracks, or blockSizeBytes',
  }),
  dirtyGrains: Type.Integer({ description: 'grains set (of grainBytes)' }),
  createdAt: Type.String(),
});

export const VolumeParams = Type.Object({ volume: Name });
export const SnapshotParams = Type.Object({ volume: Name, snapshot: Name });
export const BitmapParams = Type.Object({ volume: Name, bitmap: Name });
export const EncodedBitmapQuery = Type.Object({
  unit: Type.Optional(
    Type.Union([Type.Literal('block'), Type.Literal('grain')], {
      description: "one bit per block (default) or per grain (the bitmap's grainBytes)",
    }),
  ),
});

export const CreateVolumeBody = Type.Object(
  {
    name: Name,
    sizeBytes: Type.Integer({ minimum: 512, multipleOf: 512, description: 'provisioned size in bytes' }),
  },
  { additionalProperties: false },
);
export const GrowVolumeBody = Type.Object(
  { sizeBytes: Type.Integer({ minimum: 512, multipleOf: 512 }) },
  { additionalProperties: false },
);
export const InheritIdBody = Type.Object(
  { inheritedUniqueId: Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()]) },
  { additionalProperties: false },
);
export const CreateNamedBody = Type.Object({ name: Name }, { additionalProperties: false });
export const FreezeBitmapBody = Type.Object({ into: Name }, { additionalProperties: false });
/** Blocks of a premark range (256 KiB of set). */
export const PREMARK_MAX_BLOCKS = 2 * 1024 * 1024;
export const PremarkBody = Type.Object(
  {
    blockSizeBytes: Type.Integer({
      minimum: 4096,
      maximum: 4 * 1024 * 1024,
      multipleOf: 4096,
      description: "the set's grain, any: the node marks its own blocks under those bytes",
    }),
    startBlock: Type.Integer({ minimum: 0 }),
    count: Type.Integer({ minimum: 0, maximum: PREMARK_MAX_BLOCKS }),
    set: Type.String({
      maxLength: 360_000,
      description: 'base64 of an encoded block set of `count` bits (bit k: block startBlock + k)',
    }),
  },
  { additionalProperties: false },
);
export const PremarkView = Type.Object({
  /** Blocks of the volume newly marked (at the volume's grain), now durable. */
  marked: Type.Integer(),
  blockSizeBytes: Type.Integer(),
});
export type PremarkBody = Static<typeof PremarkBody>;
export type PremarkView = Static<typeof PremarkView>;
export const MergeBitmapBody = Type.Object({ from: Name }, { additionalProperties: false });

export type PoolInfo = Static<typeof PoolInfo>;
export type NodeIdentity = Static<typeof NodeIdentity>;
export type Health = Static<typeof Health>;
export type VolumeInfo = Static<typeof VolumeInfo>;
export type SnapshotInfo = Static<typeof SnapshotInfo>;
export type BitmapInfo = Static<typeof BitmapInfo>;
export type ErrorBody = Static<typeof ErrorBody>;

/** SPEC Fig. 9: an object store registration. Secrets go in, never come out. */
export const AddStoreBody = Type.Object(
  {
    name: Name,
    provider: Type.Union([Type.Literal('directory'), Type.Literal('s3')]),
    path: Type.Optional(Type.String({ minLength: 1, description: 'directory stores: where objects go' })),
    endpoint: Type.Optional(Type.String({ description: 's3: service endpoint URL; empty for AWS' })),
    region: Type.Optional(Type.String()),
    bucket: Type.Optional(Type.String({ description: 'set automatically when empty' })),
    accessKeyId: Type.Optional(Type.String()),
    secretAccessKey: Type.Optional(Type.String()),
    encryption: Type.Optional(Type.Union([Type.Literal('none'), Type.Literal('aes-256-gcm')])),
    encryptionKey: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: '64 hex digits' })),
    tags: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false },
);

export const StoreView = Type.Object({
  name: Type.String(),
  provider: Type.String(),
  path: Type.Union([Type.String(), Type.Null()]),
  endpoint: Type.Union([Type.String(), Type.Null()]),
  region: Type.Union([Type.String(), Type.Null()]),
  bucket: Type.Union([Type.String(), Type.Null()]),
  accessKeyId: Type.Union([Type.String(), Type.Null()]),
  hasSecretKey: Type.Boolean(),
  encryption: Type.String(),
  tags: Type.Record(Type.String(), Type.String()),
  createdAt: Type.String(),
});
export const StoreParams = Type.Object({ store: Name });

export type AddStoreBody = Static<typeof AddStoreBody>;
export type StoreView = Static<typeof StoreView>;

const Method = Type.Union([Type.Literal('full'), Type.Literal('incremental'), Type.Literal('differential')]);
/** A generation key (or catalog key) as listed by the store: volumes/<uid>/catalog/... */
const GenerationKey = Type.String({ minLength: 1, maxLength: 1024, pattern: '^volumes/' });

export const TaskView = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  title: Type.String(),
  state: StringEnum(['running', 'succeeded', 'failed', 'cancelled']),
  progress: Nullable(
    Type.Object({
      bytesDone: Type.Number(),
      bytesTotal: Type.Number(),
      rateBytesPerSec: Type.Number(),
      etaSeconds: Nullable(Type.Number()),
    }),
  ),
  result: Type.Unknown(),
  error: Nullable(
    Type.Object({
      code: Type.String(),
      message: Type.String(),
      detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  ),
  notes: Type.Array(Type.Object({ at: Type.String(), message: Type.String() })),
  startedAt: Type.String(),
  endedAt: Nullable(Type.String()),
});

/**
 * A caller-chosen task ID makes starting a task idempotent: the manager records the ID
 * before it asks, and asking again (after a manager restart) returns the same task.
 */
const TaskIdString = Type.String({
  pattern: '^[A-Za-z0-9_.:-]{1,128}$',
  description: 'a task ID: a UUID, or the idempotency key its starter chose',
});
const TaskId = Type.Optional(TaskIdString);
export const TaskParams = Type.Object({ task: TaskIdString });

/** The longest a GET of a task or pair may be held open waiting for a change. */
export const MAX_WAIT_MS = 30_000;
/**
 * `?waitMs=N` on a GET of a task or a pair: answer as soon as the task ends or the
 * pair's state changes, or after N ms with the view as it is then (a long poll).
 */
const WaitMs = Type.String({
  pattern: '^[0-9]{1,5}$',
  description: `milliseconds, 0 to ${MAX_WAIT_MS} (query strings are not coerced: digits)`,
});
export const WaitQuery = Type.Object({ waitMs: Type.Optional(WaitMs) }, { additionalProperties: false });

export const BackupBody = Type.Object(
  {
    volume: Name,
    store: Name,
    method: Method,
    taskId: TaskId,
    from: Type.Optional(
      Type.Object(
        { bitmap: Name, parent: GenerationKey },
        {
          additionalProperties: false,
          description:
            'failback through the object store (SPEC S802-S806): the blocks of this active bitmap as a generation whose parent is `parent`',
        },
      ),
    ),
  },
  { additionalProperties: false },
);
export const RestoreBody = Type.Object(
  {
    store: Name,
    generation: GenerationKey,
    /** Destination volume; default: the source volume's name. */
    volume: Type.Optional(Name),
    overwrite: Type.Optional(Type.Boolean({ description: 'restore over an existing volume' })),
    onlyNewest: Type.Optional(
      Type.Boolean({
        description: "apply only the newest generation's blocks (the volume sits at its parent)",
      }),
    ),
    taskId: TaskId,
  },
  { additionalProperties: false },
);
/** Consistency assurance (SPEC S301-S303): fence, snapshot, bring the volume back to a generation. */
export const RevertBody = Type.Object(
  {
    volume: Name,
    store: Name,
    generation: GenerationKey,
    snapshot: Type.Optional(Name),
    taskId: TaskId,
  },
  { additionalProperties: false },
);
export const GenerationsQuery = Type.Object(
  { volume: Type.Optional(Name), uniqueId: Type.Optional(Type.String({ minLength: 1 })) },
  { additionalProperties: false },
);
export const GenerationView = Type.Object({
  key: Type.String(),
  generation: Type.Integer(),
  method: Method,
  parent: Type.Union([Type.String(), Type.Null()]),
  time: Type.String(),
  volumeName: Type.String(),
  uniqueId: Type.String(),
  /**
   * The unique ID (serial:number) of the volume that wrote it: the lineage's own, or a
   * volume restored from the lineage, such as a secondary's writing generation N+1 of a
   * failback through the object store (SPEC S803-S806, S901).
   */
  writtenBy: Type.String(),
  sizeBytes: Type.Integer(),
  usedBytes: Type.Integer(),
  blockCount: Type.Integer(),
  /** The grain of the generation's blocks: every generation of a chain has its parent's. */
  blockSizeBytes: Type.Integer(),
  storedBytes: Type.Integer(),
  encrypted: Type.Boolean(),
  merged: Type.Boolean(),
  protected: Type.Boolean(),
  reason: Type.Optional(Type.String()),
});
export const VerifyBody = Type.Object(
  {
    generation: Type.Optional(GenerationKey),
    uniqueId: Type.Optional(Type.String({ minLength: 1 })),
    taskId: TaskId,
  },
  { additionalProperties: false },
);
export const DeleteGenerationBody = Type.Object(
  { generation: GenerationKey },
  { additionalProperties: false },
);
export const PruneBody = Type.Object(
  {
    uniqueId: Type.String({ minLength: 1 }),
    keepLast: Type.Optional(Type.Integer({ minimum: 0 })),
    keepDaily: Type.Optional(Type.Integer({ minimum: 0 })),
    keepWeekly: Type.Optional(Type.Integer({ minimum: 0 })),
    keepMonthly: Type.Optional(Type.Integer({ minimum: 0 })),
    dryRun: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export const ServeBody = Type.Object(
  { generation: GenerationKey, name: Name },
  { additionalProperties: false },
);
export const MountView = Type.Object({
  name: Type.String(),
  generation: Type.String(),
  store: Type.String(),
  nbdUri: Type.String(),
});
export const MountParams = Type.Object({ mount: Name });

export type TaskView = Static<typeof TaskView>;
export type BackupBody = Static<typeof BackupBody>;
export type RestoreBody = Static<typeof RestoreBody>;
export type RevertBody = Static<typeof RevertBody>;
export type GenerationView = Static<typeof GenerationView>;
export type PruneBody = Static<typeof PruneBody>;
export type MountView = Static<typeof MountView>;

/**
 * Copy pairs (SPEC "Failback, method 1"): a volume of this node copied to another node's
 * export over NBD, then its journal shipped until release. TLS between sites: a PSK
 * (identity and hex key, sealed at rest, never returned) or the CA that signed the
 * target's certificate.
 */
export const PairParams = Type.Object({ volume: Name, pair: Name });
// No additionalProperties: false on the branches: with fastify's removeAdditional, the
// first branch tried would strip the second's fields.
const PairTls = Type.Union([
  Type.Object({
    pskIdentity: Type.String({ minLength: 1, maxLength: 255 }),
    pskKey: Type.String({ pattern: '^[0-9a-fA-F]+$', minLength: 2, maxLength: 1024, description: 'hex' }),
  }),
  Type.Object({
    caFile: Type.String({ minLength: 1, description: 'PEM file of the CA, on this node' }),
    serverName: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  }),
]);
export const PairTarget = Type.Object({
  host: Type.String({ minLength: 1, maxLength: 255 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  export: Type.String({ maxLength: 4096 }),
  tls: Type.Optional(PairTls),
});
const PairMode = StringEnum(['delta', 'full']);
export const StartPairBody = Type.Object(
  {
    name: Name,
    target: PairTarget,
    /** delta: the blocks of `bitmap` (S504); full: every block (S505). */
    mode: PairMode,
    /** delta: a frozen bitmap of the volume (or, with freezeFrom, the one to freeze into). */
    bitmap: Type.Optional(Name),
    /**
     * delta, optional: an active bitmap the pair freezes into `bitmap` once journaling
     * runs (S501 after S502: no write between the freeze and the journal is lost).
     */
    freezeFrom: Type.Optional(Name),
  },
  { additionalProperties: false },
);
const PairState = StringEnum(['initial-copy', 'streaming', 'releasing', 'released', 'failed']);
/** `?waitMs=N[&whileState=S]`: answer once the pair's state is not S (default: its state when asked). */
export const PairWaitQuery = Type.Object(
  {
    waitMs: Type.Optional(WaitMs),
    whileState: Type.Optional(PairState),
  },
  { additionalProperties: false },
);
export const PairView = Type.Object({
  name: Type.String(),
  volume: Type.String(),
  mode: PairMode,
  state: PairState,
  target: Type.Object({ host: Type.String(), port: Type.Integer(), export: Type.String() }),
  blocksToCopy: Type.Integer(),
  blocksCopied: Type.Integer(),
  /** The unit of blocksToCopy and blocksCopied: a delta copies 4 KiB grains, a full copy blocks. */
  blockBytes: Type.Integer(),
  /** Bytes of the copied blocks (zero ranges included). */
  bytesCopied: Type.Integer(),
  journal: Type.Object({
    entriesShipped: Type.Integer(),
    /** Write data applied on the target (zero entries carry none). */
    bytesShipped: Type.Integer(),
    /** Entries not yet acknowledged by the target, and their bytes in the journal. */
    lagEntries: Type.Integer(),
    lagBytes: Type.Integer(),
  }),
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
  /** The target unreachable or the connection dropped: waiting to try again (null while moving). */
  retrying: Nullable(
    Type.Object({
      attempt: Type.Integer(),
      code: Type.String(),
      message: Type.String(),
      since: Type.String(),
      nextAttemptAt: Type.String(),
    }),
  ),
  startedAt: Type.String(),
  copiedAt: Nullable(Type.String()),
  releasedAt: Nullable(Type.String()),
});

export type StartPairBody = Static<typeof StartPairBody>;
export type PairTarget = Static<typeof PairTarget>;
export type PairView = Static<typeof PairView>;

/**
 * A failback pair's TLS key on the primary (pair-keys.ts): installed by the manager,
 * never returned. While it is there, the volume's export opens only for that identity.
 */
export const PairKeyBody = Type.Object(
  {
    identity: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' }),
    key: Type.String({ pattern: '^(?:[0-9a-fA-F]{2}){16,64}$', description: 'hex, 16 to 64 bytes' }),
  },
  { additionalProperties: false },
);
export const PairKeyView = Type.Object({
  volume: Type.String(),
  identity: Type.String(),
  installedAt: Type.String(),
  /** NBD sessions this identity opened (TLS, authenticated by the key) since the node started. */
  tlsSessions: Type.Integer(),
  lastSessionAt: Type.Union([Type.String(), Type.Null()]),
});
export const PairKeyQuery = Type.Object({ identity: Type.Optional(Type.String({ minLength: 1 })) });
export const PairKeyRemoved = Type.Object({ removed: Type.Union([PairKeyView, Type.Null()]) });

export type PairKeyBody = Static<typeof PairKeyBody>;
export type PairKeyView = Static<typeof PairKeyView>;

/**
 * Virtual volumes (SPEC "External volume virtualization", Failback method 2, S702, S708):
 * another node's export attached to this node over NBD, and a local copy into one
 * (S704-S706) as a task.
 */
export const ExternalParams = Type.Object({ external: Name });
export const AttachExternalBody = Type.Object(
  { name: Name, target: PairTarget },
  { additionalProperties: false },
);
export const ExternalView = Type.Object({
  name: Type.String(),
  target: Type.Object({ host: Type.String(), port: Type.Integer(), export: Type.String() }),
  tls: Type.Boolean(),
  sizeBytes: Type.Integer(),
  uniqueId: Type.Union([Type.String(), Type.Null()], {
    description: "the unique ID the primary gives for its export (NBD description 'volume <ID>'), if any",
  }),
  connected: Type.Boolean(),
  attachedAt: Type.String(),
});
export const LocalCopyBody = Type.Object(
  {
    volume: Name,
    external: Name,
    mode: Type.Union([Type.Literal('delta'), Type.Literal('full'), Type.Literal('by-id')], {
      description:
        "delta: the bitmap's blocks (S705); full: every block (S706); by-id: delta when the primary's own ID for the export equals the volume's lineage (S704, Fig. 27-28)",
    }),
    bitmap: Name,
    freezeFrom: Name,
    taskId: TaskId,
  },
  { additionalProperties: false },
);

/** Block hashes (failback verify, `rebound volume compare`): SHA-256 per block, only hashes leave the node. */
/** Blocks hashed per call: with `only`, the marked ones; a range of `only` spans at most MAX_SPAN. */
export const HASHES_MAX_BLOCKS = 16384;
export const HASHES_MAX_SPAN = 1024 * 1024;
export const HashesBody = Type.Object(
  {
    startBlock: Type.Integer({ minimum: 0 }),
    count: Type.Integer({
      minimum: 0,
      maximum: HASHES_MAX_SPAN,
      description: `at most ${HASHES_MAX_BLOCKS} blocks per call; with only, a range of at most ${HASHES_MAX_SPAN} holding at most ${HASHES_MAX_BLOCKS} marked`,
    }),
    hashBlockBytes: Type.Integer({ minimum: 4096, maximum: 4 * 1024 * 1024, multipleOf: 4096 }),
    only: Type.Optional(
      Type.String({
        maxLength: 200_000,
        description:
          'base64 of an encoded block set of `count` bits (bit k: block startBlock + k): hash only those blocks (a verify of the changed blocks)',
      }),
    ),
    fromCopy: Type.Optional(
      Type.Boolean({
        description:
          "answer a block a delta copy read from this volume, unchanged since, with the hash the copy's read worker took of it instead of reading it again (a failback's verify, at the copy's source); each such hash is given once",
      }),
    ),
  },
  { additionalProperties: false },
);
export const HashesView = Type.Object({
  sizeBytes: Type.Integer(),
  hashBlockBytes: Type.Integer(),
  startBlock: Type.Integer(),
  count: Type.Integer(),
  /** Blocks hashed: `count`, or the blocks marked in `only`. */
  hashed: Type.Integer(),
  algorithm: Type.Literal('sha256'),
  /** base64 of `hashed` 32-byte digests, in block order. */
  hashes: Type.String(),
  /** Of `hashed`, those answered with the hash a delta copy took as it read them (fromCopy). */
  fromCopy: Type.Optional(Type.Integer()),
});

export type AttachExternalBody = Static<typeof AttachExternalBody>;
export type ExternalView = Static<typeof ExternalView>;
export type LocalCopyBody = Static<typeof LocalCopyBody>;
export type HashesBody = Static<typeof HashesBody>;
export type HashesView = Static<typeof HashesView>;
