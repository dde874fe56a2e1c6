/**
 * The manager API's request and response types, declared once (STYLE.md point 12):
 * fastify validates requests and serializes responses with these schemas (a field not
 * declared here never leaves the manager, which is one guard that secrets stay in), the
 * OpenAPI document at /v1/openapi.json is generated from them, and ManagerClient and the
 * CLI take their types from them.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import * as NodeApi from '../node/api-schema.js';
import * as Sites from './sites/schema.js';

const Name = Type.String({
  pattern: '^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$',
  description: 'a name: 1-64 of A-Z a-z 0-9 . _ -',
});
const Time = Type.String({ description: 'ISO 8601, UTC' });
function PageLimit() {
  return Type.Optional(
    Type.String({ pattern: '^([1-9][0-9]{0,2}|1000)$', description: '1-1000, default 100' }),
  );
}
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const RoleSchema = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('viewer')], {
  description: 'admin > operator > viewer',
});

export const ErrorBody = NodeApi.ErrorBody;

export const ManagerHealth = Type.Object({
  status: Type.Literal('ok'),
  version: Type.String(),
  schemaVersion: Type.Integer(),
  uptimeSeconds: Type.Number(),
  nodes: Type.Object({ total: Type.Integer(), ok: Type.Integer(), unreachable: Type.Integer() }),
});

// ---- auth ----

export const SignInBody = Type.Object(
  { user: Name, password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);
export const TokenView = Type.Object({
  id: Type.String(),
  user: Type.String(),
  name: Type.String(),
  createdAt: Time,
  expiresAt: Nullable(Time),
  lastUsedAt: Nullable(Time),
});
/** A token as created: the only time the secret itself is shown. */
export const NewTokenView = Type.Object({
  ...TokenView.properties,
  token: Type.String({ description: 'the bearer token; shown once, stored only as a hash' }),
  role: RoleSchema,
});
export const WhoAmI = Type.Object({ user: Type.String(), role: RoleSchema, tokenId: Type.String() });
export const CreateTokenBody = Type.Object(
  {
    name: Name,
    user: Type.Optional(Name),
    expiresInSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 10 * 365 * 86400 })),
  },
  { additionalProperties: false },
);
export const TokenParams = Type.Object({ token: Type.String({ pattern: '^[0-9a-f]{12}$' }) });
export const TokenQuery = Type.Object({ user: Type.Optional(Name) }, { additionalProperties: false });

// ---- users ----

const Password = Type.String({ minLength: 8, maxLength: 1024, description: 'at least 8 characters' });
export const UserView = Type.Object({
  name: Type.String(),
  role: RoleSchema,
  hasPassword: Type.Boolean(),
  createdAt: Time,
});
export const AddUserBody = Type.Object(
  { name: Name, role: RoleSchema, password: Type.Optional(Password) },
  { additionalProperties: false },
);
export const UpdateUserBody = Type.Object(
  { role: Type.Optional(RoleSchema), password: Type.Optional(Nullable(Password)) },
  { additionalProperties: false },
);
export const UserParams = Type.Object({ user: Name });

// ---- sites and nodes ----

const SiteRoleSchema = Type.Union([Type.Literal('primary'), Type.Literal('secondary')]);
export const SiteView = Type.Object({
  name: Type.String(),
  role: SiteRoleSchema,
  nodes: Type.Array(Type.String()),
  createdAt: Time,
});
export const AddSiteBody = Type.Object({ name: Name, role: SiteRoleSchema }, { additionalProperties: false });
export const SiteParams = Type.Object({ site: Name });

export const NodeView = Type.Object({
  name: Type.String(),
  site: Type.String(),
  apiUrl: Type.String(),
  serial: Type.String({ description: 'device serial number, learned from the node' }),
  health: Type.Union([Type.Literal('ok'), Type.Literal('unreachable')]),
  healthReason: Nullable(Type.String()),
  healthChangedAt: Time,
  lastSeenAt: Nullable(Time),
  volumes: Type.Integer(),
  createdAt: Time,
});
export const RegisterNodeBody = Type.Object(
  {
    name: Name,
    site: Name,
    url: Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 2048, description: "the node's API URL" }),
    token: Type.String({ minLength: 1, maxLength: 1024, description: "the node's API token (node.json)" }),
  },
  { additionalProperties: false },
);
export const NodeParams = Type.Object({ node: Name });

// ---- volumes (SPEC Fig. 7) ----

export const VolumeView = Type.Object({
  name: Type.String(),
  node: Type.String(),
  site: Type.String(),
  serial: Type.String({ description: 'device serial number of the node holding it' }),
  number: Type.Integer({ description: 'volume number within that node' }),
  uniqueId: Type.String({ description: 'serial:number, unique in the whole system' }),
  inheritedUniqueId: Nullable(Type.String()),
  pool: Type.String(),
  sizeBytes: Type.Integer({ description: 'provisioned size' }),
  usedBytes: Type.Integer(),
  usedPercent: Type.Number(),
  backedUp: Type.Boolean(),
  lastBackupAt: Nullable(Time),
  nodeHealth: Type.Union([Type.Literal('ok'), Type.Literal('unreachable')]),
  createdAt: Time,
  syncedAt: Time,
});
export const CreateVolumeBody = Type.Object(
  {
    node: Name,
    name: Name,
    sizeBytes: Type.Integer({ minimum: 512, multipleOf: 512, description: 'provisioned size in bytes' }),
  },
  { additionalProperties: false },
);
export const VolumeParams = Type.Object({
  volume: Type.String({
    pattern: '^[A-Za-z0-9_][A-Za-z0-9._:-]{0,127}$',
    description: 'a unique ID (SERIAL:NUMBER), or a name held by one node only',
  }),
});
export const VolumeQuery = Type.Object(
  { node: Type.Optional(Name), name: Type.Optional(Name) },
  { additionalProperties: false },
);

// ---- object stores (SPEC Fig. 9) ----

export const AddStoreBody = NodeApi.AddStoreBody;
export const StoreView = NodeApi.StoreView;
export const StoreParams = NodeApi.StoreParams;

// ---- backups (SPEC Fig. 10 to 14) and restores (Fig. 16, 17) ----

const MethodSchema = Type.Union(
  [Type.Literal('full'), Type.Literal('incremental'), Type.Literal('differential')],
  {
    description:
      'full: every allocated block; incremental: changed since the previous generation; differential: changed since the last full',
  },
);
const ScheduleSchema = Type.Union(
  [
    Type.Object(
      {
        kind: Type.Literal('once'),
        at: Nullable(Type.String({ format: 'date-time', description: 'when; null for now' })),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        kind: Type.Union([Type.Literal('daily'), Type.Literal('weekly'), Type.Literal('monthly')]),
        start: Type.String({ format: 'date-time', description: 'the first run (ISO 8601)' }),
        interval: Type.Integer({ minimum: 1, maximum: 365, description: 'every N days, weeks or months' }),
        maxRuns: Nullable(
          Type.Integer({ minimum: 1, description: 'stop after this many runs; null: no limit' }),
        ),
      },
      { additionalProperties: false },
    ),
  ],
  { description: 'SPEC Fig. 10: one shot (now or at a time) or periodic' },
);
const RetentionSchema = Type.Object(
  {
    keepLast: Type.Optional(Type.Integer({ minimum: 1 })),
    keepDaily: Type.Optional(Type.Integer({ minimum: 0 })),
    keepWeekly: Type.Optional(Type.Integer({ minimum: 0 })),
    keepMonthly: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false, description: 'generations to keep after each run; chains are never broken' },
);
export const BackupSettingView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  volume: Type.String({ description: 'unique ID of the volume' }),
  volumeName: Nullable(Type.String()),
  node: Nullable(Type.String()),
  store: Type.String(),
  method: MethodSchema,
  schedule: ScheduleSchema,
  retention: Nullable(RetentionSchema),
  enabled: Type.Boolean(),
  runs: Type.Integer(),
  nextRunAt: Nullable(Time),
  lastRunAt: Nullable(Time),
  lastJob: Nullable(Type.String()),
  createdAt: Time,
});
export const AddBackupSettingBody = Type.Object(
  {
    name: Name,
    volume: VolumeParams.properties.volume,
    store: Name,
    method: MethodSchema,
    schedule: ScheduleSchema,
    retention: Type.Optional(RetentionSchema),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export const UpdateBackupSettingBody = Type.Object(
  {
    store: Type.Optional(Name),
    method: Type.Optional(MethodSchema),
    schedule: Type.Optional(ScheduleSchema),
    retention: Type.Optional(Nullable(RetentionSchema)),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export const BackupSettingParams = Type.Object({ setting: Name });
export const RunBackupBody = Type.Object(
  { volume: VolumeParams.properties.volume, store: Name, method: MethodSchema },
  { additionalProperties: false },
);
export const RestoreBody = Type.Object(
  {
    store: Name,
    generation: Type.String({
      minLength: 1,
      maxLength: 1024,
      pattern: '^volumes/',
      description: 'a generation key',
    }),
    node: Name,
    volume: Type.Optional(Name),
    overwrite: Type.Optional(Type.Boolean({ description: 'restore over an existing volume' })),
  },
  { additionalProperties: false },
);
export const VerifyBody = Type.Object(
  {
    generation: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, pattern: '^volumes/' })),
    uniqueId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    node: Type.Optional(Name),
  },
  { additionalProperties: false },
);
export const GenerationsQuery = Type.Object(
  {
    volume: Type.Optional(VolumeParams.properties.volume),
    uniqueId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    node: Type.Optional(Name),
  },
  { additionalProperties: false },
);
export const GenerationView = NodeApi.GenerationView;

// ---- disaster recovery (SPEC Fig. 15 to 33) ----

export const FailoverBody = Type.Object(
  {
    site: Name,
    store: Name,
    volumes: Type.Array(
      Type.Union([
        VolumeParams.properties.volume,
        Type.Object(
          {
            volume: VolumeParams.properties.volume,
            generation: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, pattern: '^volumes/' })),
          },
          { additionalProperties: false },
        ),
      ]),
      {
        minItems: 1,
        maxItems: 256,
        description: 'primary volumes (name or unique ID), each optionally with a generation key',
      },
    ),
    provider: Type.Optional(Sites.SiteProviderConfig),
    hooks: Type.Optional(Sites.HostHooksConfig),
  },
  { additionalProperties: false },
);
export const FailbackBody = Type.Object(
  {
    volume: VolumeParams.properties.volume,
    method: Type.Union(
      [Type.Literal('remote-copy'), Type.Literal('object-store'), Type.Literal('external')],
      {
        description:
          'how the changed blocks go home: remote-copy (a pair with a journal, SPEC S401-S408), object-store (S801-S906) or external (the primary volume attached at the secondary as a virtual volume and copied into locally, S701-S710)',
      },
    ),
    readIdFrom: Type.Optional(
      Type.Union([Type.Literal('manager'), Type.Literal('primary')], {
        description:
          "external only, S704: 'manager' (default) compares the unique IDs the manager reads; 'primary' lets the secondary compare with the ID the primary itself gives for its export (SPEC Fig. 27-28)",
      }),
    ),
    verify: Type.Optional(
      Type.Union([Type.Literal('changed'), Type.Literal('full')], {
        description:
          "what the verify step compares before the primary's hosts start: 'changed' (default) the blocks changed at the secondary since failover, the rest being equal by the unique ID and the base generation; 'full' every block (both volumes read whole). A full copy always compares every block",
      }),
    ),
    destination: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'S401: the primary volume to fail back into (name on the primary node, or unique ID); default the one the lineage came from. Another volume has another unique ID, so every block moves (S505)',
      }),
    ),
  },
  { additionalProperties: false },
);
/** The failback methods the API takes, read off FailbackBody (a new method shows up here too). */
export const FAILBACK_METHODS = FailbackBody.properties.method.anyOf.map((m) => m.const as string);
export const FailbackEstimateQuery = Type.Object(
  { volume: VolumeParams.properties.volume },
  { additionalProperties: false },
);
export const FailbackEstimateView = Type.Object({
  volume: Type.String({ description: 'the primary volume' }),
  lineage: Type.String(),
  secondaryNode: Type.String(),
  secondaryVolume: Type.String(),
  blockSizeBytes: Type.Integer(),
  changedBlocks: Type.Integer({ description: "set in the secondary's since-restore bitmap (S501)" }),
  changedBytes: Type.Integer({
    description: 'bytes of the grains written in those blocks (4 KiB of a 64 KiB block): what a delta copies',
  }),
  fullBlocks: Type.Integer({ description: 'every block of the volume: what a full copy moves (S505)' }),
  fullBytes: Type.Integer(),
  idsEqual: Nullable(
    Type.Boolean({
      description:
        "S503: the primary's unique ID is the secondary's inherited one; null: the primary did not answer",
    }),
  ),
  delta: Type.Boolean({ description: 'only the changed blocks move; false: every block does' }),
  why: Nullable(Type.String({ description: 'why everything moves, when it does' })),
  methods: Type.Array(
    Type.Object({
      method: Type.String(),
      delta: Type.Boolean(),
      blocks: Type.Integer({ description: 'blocks that reach the primary' }),
      bytes: Type.Integer(),
      how: Type.String(),
    }),
  ),
});

export const HeatmapQuery = Type.Object(
  {
    bitmap: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$',
        description:
          'default: since-restore when the volume has it (changes since failover), else the newest backup bitmap',
      }),
    ),
    buckets: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: '1-4096, default 256' })),
  },
  { additionalProperties: false },
);
export const HeatmapView = Type.Object({
  volume: Type.String(),
  node: Type.String(),
  bitmap: Type.String(),
  bitmaps: Type.Array(
    Type.Object({ name: Type.String(), active: Type.Boolean(), dirtyBlocks: Type.Integer() }),
    { description: "the volume's bitmaps, to pick another" },
  ),
  blockSizeBytes: Type.Integer(),
  totalBlocks: Type.Integer(),
  changedBlocks: Type.Integer(),
  blocksPerBucket: Type.Integer(),
  buckets: Type.Array(Type.Integer(), { description: 'changed blocks in each slice of the address space' }),
});

export const DrVolumeView = Type.Object({
  lineage: Type.String({ description: "the primary volume's unique ID, which its backups carry" }),
  volume: Type.String(),
  primaryNode: Type.String(),
  active: Type.Union([Type.Literal('primary'), Type.Literal('secondary')]),
  state: Type.String(),
  secondarySite: Nullable(Type.String()),
  secondaryNode: Nullable(Type.String()),
  secondaryVolume: Nullable(Type.String()),
  secondaryNbdUri: Nullable(Type.String({ description: 'where hosts reach the volume at the secondary' })),
  secondaryProblem: Nullable(
    Type.String({
      description:
        'why the secondary could not be asked (its node does not answer, say): its changes and pair are then unknown',
    }),
  ),
  baseGeneration: Nullable(Type.String()),
  consistency: Nullable(Type.String()),
  consistencyDetail: Nullable(Type.String()),
  changedBlocks: Nullable(Type.Integer({ description: 'blocks written at the secondary since failover' })),
  blockSizeBytes: Nullable(Type.Integer({ description: "the secondary's pool block" })),
  pair: Nullable(
    Type.Object({
      name: Type.String(),
      state: Type.String({ description: 'initial-copy, streaming, releasing, released, failed' }),
      blocksToCopy: Type.Integer(),
      blocksCopied: Type.Integer(),
      blockBytes: Type.Integer({
        description: 'the unit of blocksToCopy and blocksCopied: 4 KiB grains for a delta',
      }),
      lagEntries: Type.Integer({ description: 'journal entries not yet applied at the primary' }),
      lagBytes: Type.Integer(),
      retrying: Nullable(
        Type.Object(
          {
            attempt: Type.Integer(),
            message: Type.String(),
            since: Type.String(),
            nextAttemptAt: Type.String(),
          },
          { description: 'the primary cannot be reached: the pair waits and tries again' },
        ),
      ),
    }),
  ),
  failback: Nullable(
    Type.Object(
      {
        job: Type.String(),
        method: Type.String({ description: 'remote-copy, object-store or external' }),
        state: Type.String({ description: "the job's state" }),
        step: Nullable(Type.String({ description: 'the step it is at' })),
        bytesDone: Nullable(Type.Number()),
        bytesTotal: Nullable(Type.Number()),
      },
      { description: 'the latest failback job of the volume, whatever its method' },
    ),
  ),
  changedBytes: Nullable(
    Type.Integer({ description: 'bytes of the grains written in those blocks (4 KiB of a 64 KiB block)' }),
  ),
  lastBackupAt: Nullable(Time),
  rpoSeconds: Nullable(Type.Number({ description: 'age of the newest backup' })),
  failedOverAt: Nullable(Time),
  failedBackAt: Nullable(Time),
  failoverJob: Nullable(Type.String()),
  failbackJob: Nullable(Type.String()),
});

// ---- jobs ----

const JobStateSchema = Type.Union(
  ['queued', 'running', 'paused', 'cancelling', 'succeeded', 'failed', 'cancelled'].map((s) =>
    Type.Literal(s),
  ),
);
export const JobLogView = Type.Object({
  at: Time,
  step: Type.String(),
  spec: Nullable(Type.String({ description: 'SPEC step or figure numbers' })),
  status: Type.Union(['started', 'done', 'failed', 'paused', 'info'].map((s) => Type.Literal(s))),
  message: Type.String(),
});
export const JobView = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  title: Type.String(),
  state: JobStateSchema,
  step: Nullable(Type.String()),
  progress: Nullable(
    Type.Object({
      bytesDone: Type.Number(),
      bytesTotal: Type.Number(),
      rateBytesPerSec: Type.Number(),
      etaSeconds: Nullable(Type.Number()),
    }),
  ),
  params: Type.Record(Type.String(), Type.Unknown()),
  result: Nullable(Type.Record(Type.String(), Type.Unknown())),
  error: Nullable(
    Type.Object({
      code: Type.String(),
      message: Type.String(),
      detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    }),
  ),
  pausedReason: Nullable(Type.String()),
  setting: Nullable(Type.String()),
  late: Type.Boolean(),
  createdBy: Nullable(Type.String()),
  createdAt: Time,
  startedAt: Nullable(Time),
  endedAt: Nullable(Time),
  updatedAt: Time,
  log: Type.Optional(Type.Array(JobLogView)),
});
export const JobParams = Type.Object({ job: Type.String({ pattern: '^j-[0-9]{8}-[0-9a-f]{8}$' }) });
export const JobQuery = Type.Object(
  {
    state: Type.Optional(
      Type.String({ pattern: '^[a-z]+(,[a-z]+)*$', description: 'comma-separated states' }),
    ),
    kind: Type.Optional(Type.String({ maxLength: 32 })),
    setting: Type.Optional(Type.String({ maxLength: 64 })),
    limit: PageLimit(),
  },
  { additionalProperties: false },
);

// ---- logs ----

export const PageQuery = Type.Object(
  {
    limit: PageLimit(),
    before: Type.Optional(
      Type.String({ pattern: '^[1-9][0-9]{0,15}$', description: 'nextBefore of the last page' }),
    ),
  },
  { additionalProperties: false },
);
export const EventQuery = Type.Object(
  { ...PageQuery.properties, kind: Type.Optional(Type.String({ maxLength: 64 })) },
  { additionalProperties: false },
);
export const AuditView = Type.Object({
  id: Type.Integer(),
  at: Time,
  actor: Nullable(Type.String()),
  role: Nullable(RoleSchema),
  method: Type.String(),
  path: Type.String(),
  status: Type.Integer(),
  ip: Nullable(Type.String()),
});
export const EventView = Type.Object({
  id: Type.Integer(),
  at: Time,
  level: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('error')]),
  kind: Type.String(),
  subject: Nullable(Type.String()),
  message: Type.String(),
  detail: Nullable(Type.Record(Type.String(), Type.Unknown())),
});
const PageOf = <T extends TSchema>(t: T) =>
  Type.Object({ items: Type.Array(t), nextBefore: Nullable(Type.Integer()) });
export const AuditPage = PageOf(AuditView);
export const EventPage = PageOf(EventView);

export type ErrorBody = Static<typeof ErrorBody>;
export type ManagerHealth = Static<typeof ManagerHealth>;
export type SignInBody = Static<typeof SignInBody>;
export type TokenView = Static<typeof TokenView>;
export type NewTokenView = Static<typeof NewTokenView>;
export type WhoAmI = Static<typeof WhoAmI>;
export type CreateTokenBody = Static<typeof CreateTokenBody>;
export type UserView = Static<typeof UserView>;
export type AddUserBody = Static<typeof AddUserBody>;
export type UpdateUserBody = Static<typeof UpdateUserBody>;
export type SiteView = Static<typeof SiteView>;
export type AddSiteBody = Static<typeof AddSiteBody>;
export type NodeView = Static<typeof NodeView>;
export type RegisterNodeBody = Static<typeof RegisterNodeBody>;
export type VolumeView = Static<typeof VolumeView>;
export type CreateVolumeBody = Static<typeof CreateVolumeBody>;
export type AddStoreBody = Static<typeof AddStoreBody>;
export type StoreView = Static<typeof StoreView>;
export type AuditView = Static<typeof AuditView>;
export type EventView = Static<typeof EventView>;
export type AuditPage = Static<typeof AuditPage>;
export type EventPage = Static<typeof EventPage>;
export type BackupSettingView = Static<typeof BackupSettingView>;
export type AddBackupSettingBody = Static<typeof AddBackupSettingBody>;
export type UpdateBackupSettingBody = Static<typeof UpdateBackupSettingBody>;
export type RunBackupBody = Static<typeof RunBackupBody>;
export type RestoreBody = Static<typeof RestoreBody>;
export type VerifyBody = Static<typeof VerifyBody>;
export type GenerationsQuery = Static<typeof GenerationsQuery>;
export type GenerationView = Static<typeof GenerationView>;
export type JobView = Static<typeof JobView>;
export type JobLogView = Static<typeof JobLogView>;
export type FailoverBody = Static<typeof FailoverBody>;
export type DrVolumeView = Static<typeof DrVolumeView>;
export type FailbackBody = Static<typeof FailbackBody>;
export type FailbackEstimateView = Static<typeof FailbackEstimateView>;
export type HeatmapView = Static<typeof HeatmapView>;

/** `rebound volume compare`: two volumes, each a unique ID, a name held by one node, or NODE/NAME. */
const CompareRef = Type.String({
  pattern: '^[A-Za-z0-9_][A-Za-z0-9._:-]{0,127}(/[A-Za-z0-9_][A-Za-z0-9._-]{0,63})?$',
  description: 'a unique ID (SERIAL:NUMBER), a name held by one node only, or NODE/NAME',
});
export const CompareVolumesBody = Type.Object(
  { a: CompareRef, b: CompareRef },
  { additionalProperties: false },
);
const CompareSide = Type.Object({ node: Type.String(), volume: Type.String(), sizeBytes: Type.Integer() });
export const VolumeComparisonView = Type.Object({
  identical: Type.Boolean(),
  a: CompareSide,
  b: CompareSide,
  hashBlockBytes: Type.Integer({ description: 'each node hashed blocks of this size (SHA-256)' }),
  blocksCompared: Type.Integer(),
  mismatchCount: Type.Integer(),
  firstMismatches: Type.Array(Type.Object({ block: Type.Integer(), offset: Type.Integer() }), {
    description: 'the first differing blocks (at most 16)',
  }),
  why: Nullable(Type.String({ description: 'set when the sizes differ' })),
});
export type CompareVolumesBody = Static<typeof CompareVolumesBody>;
export type VolumeComparisonView = Static<typeof VolumeComparisonView>;
