/** Records as the API shows them: no sealed secret, hash or token ever leaves through here. */

import type { IssuedToken } from '../accounts.js';
import type {
  JobView,
  NewTokenView,
  NodeView,
  StoreView,
  TokenView,
  UserView,
  VolumeView,
} from '../api-schema.js';
import type {
  JobLogEntry,
  JobRecord,
  NodeRecord,
  StoreRecord,
  TokenRecord,
  UserRecord,
  VolumeRecord,
} from '../db/types.js';

export function nodeView(n: NodeRecord, volumes: number): NodeView {
  return {
    name: n.name,
    site: n.site,
    apiUrl: n.apiUrl,
    serial: n.serial,
    health: n.health,
    healthReason: n.healthReason,
    healthChangedAt: n.healthChangedAt,
    lastSeenAt: n.lastSeenAt,
    volumes,
    createdAt: n.createdAt,
  };
}

export function volumeView(v: VolumeRecord, node: NodeRecord | undefined): VolumeView {
  return {
    name: v.name,
    node: v.node,
    site: node?.site ?? '',
    serial: v.serial,
    number: v.number,
    uniqueId: v.uniqueId,
    inheritedUniqueId: v.inheritedUniqueId,
    pool: v.pool,
    sizeBytes: v.sizeBytes,
    usedBytes: v.usedBytes,
    usedPercent: v.sizeBytes > 0 ? Math.round((v.usedBytes / v.sizeBytes) * 10000) / 100 : 0,
    backedUp: v.backedUp,
    lastBackupAt: v.lastBackupAt,
    nodeHealth: node?.health ?? 'unreachable',
    createdAt: v.createdAt,
    syncedAt: v.syncedAt,
  };
}

export function storeView(s: StoreRecord): StoreView {
  return {
    name: s.name,
    provider: s.provider,
    path: s.path,
    endpoint: s.endpoint,
    region: s.region,
    bucket: s.bucket,
    accessKeyId: s.accessKeyId,
    hasSecretKey: s.sealedSecretKey !== null,
    encryption: s.encryption,
    tags: s.tags,
    createdAt: s.createdAt,
  };
}

export function userView(u: UserRecord): UserView {
  return { name: u.name, role: u.role, hasPassword: u.passwordHash !== null, createdAt: u.createdAt };
}

export function tokenView(t: TokenRecord): TokenView {
  return {
    id: t.id,
    user: t.user,
    name: t.name,
    createdAt: t.createdAt,
    expiresAt: t.expiresAt,
    lastUsedAt: t.lastUsedAt,
  };
}

export function newTokenView(t: IssuedToken): NewTokenView {
  return { ...tokenView(t.record), token: t.token, role: t.role };
}

export function jobView(j: JobRecord, log?: JobLogEntry[]): JobView {
  return {
    id: j.id,
    kind: j.kind,
    title: j.title,
    state: j.state,
    step: j.step,
    progress: j.progress,
    params: j.params,
    result: j.result,
    error: j.error,
    pausedReason: j.pausedReason,
    setting: j.setting,
    late: j.late,
    createdBy: j.createdBy,
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    endedAt: j.endedAt,
    updatedAt: j.updatedAt,
    ...(log
      ? { log: log.map(({ at, step, spec, status, message }) => ({ at, step, spec, status, message })) }
      : {}),
  };
}
