/**
 * Where a secondary reaches a primary volume over NBD in a failback, and the TLS it uses:
 * the one place a copy pair's target (remote copy, S403-S404) or a virtual volume
 * (external volume, S702) is built. Between sites NBD runs over TLS (DESIGN.md) with
 * nothing for the operator to configure:
 *
 *   manager ── derive a PSK for the job (HKDF of its master key: never stored, the same
 *   │          when a step runs again after a restart)
 *   ├─► primary node: PUT /v1/volumes/V/pair-key {identity, key}: sealed at rest, added to
 *   │   its NBD server (even with TLS off), and V opens only for that identity from now on
 *   └─► secondary: {host, port, export: V, tls: {pskIdentity, pskKey}} in its start call
 *
 * The key travels only in those two request bodies: never in an effect's result (job
 * data is shown by the API), a log line or a response. releaseNbdTarget removes it when
 * the pair or the virtual volume is gone; V then opens for plain hosts again.
 */
import type { PairTarget } from '../../node/api-schema.js';
import type { Registry } from '../registry.js';

export interface NbdTarget {
  /** The primary node and volume. */
  node: string;
  volume: string;
  /** What names the key: the pair (or attachment) it is for, i.e. the job. */
  name: string;
}

/** The PSK identity of a target (the primary logs and reports it; it is no secret). */
export function nbdTargetIdentity(t: NbdTarget): string {
  return `rebound-${t.name}`;
}

/** The target's key (hex): derived again on each call, so the manager stores it nowhere. */
export function nbdTargetKey(registry: Pick<Registry, 'derivedKey'>, t: NbdTarget): string {
  return registry.derivedKey(`nbd-psk:${nbdTargetIdentity(t)}`).toString('hex');
}

/**
 * Install the target's key on the primary (idempotent) and return what the secondary
 * connects to. Call it before the primary volume takes writes (unfence), so no plain host
 * gets in between, and again to build the secondary's request.
 */
export async function nbdTarget(registry: Registry, t: NbdTarget): Promise<PairTarget> {
  const client = registry.client(await registry.node(t.node));
  const identity = nbdTargetIdentity(t);
  const pskKey = nbdTargetKey(registry, t);
  await client.putPairKey(t.volume, { identity, key: pskKey });
  const { nbd } = await client.identity();
  return { host: nbd.host, port: nbd.port, export: t.volume, tls: { pskIdentity: identity, pskKey } };
}

/** Remove the target's key from the primary; what it saw (sessions), never the key. */
export async function releaseNbdTarget(
  registry: Registry,
  t: NbdTarget,
): Promise<{ identity: string; tlsSessions: number | null }> {
  const client = registry.client(await registry.node(t.node));
  const identity = nbdTargetIdentity(t);
  const { removed } = await client.deletePairKey(t.volume, identity);
  return { identity, tlsSessions: removed?.tlsSessions ?? null };
}
