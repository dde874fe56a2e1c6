/**
 * Another node's export as this node stores and dials it: the PSK key sealed at rest
 * with the node's SecretBox (never returned in a view), a CA file read when dialling.
 * Copy pairs (pair.ts) and virtual volumes (external.ts) both dial their targets here.
 */
import { readFile } from 'node:fs/promises';
import { ReboundError } from '../errors.js';
import type { NbdClientOptions, NbdClientTlsOptions } from '../nbd/client/index.js';
import type { PairTargetSpec, StoredTarget } from './record.js';

export interface Secrets {
  seal(plain: string): string;
  open(sealed: string): string;
}

/** Seal what the API was given. */
export function storeTarget(t: PairTargetSpec, secrets: Secrets): StoredTarget {
  let tls: StoredTarget['tls'] = null;
  if (t.tls && 'pskIdentity' in t.tls) {
    tls = { pskIdentity: t.tls.pskIdentity, sealedPskKey: secrets.seal(t.tls.pskKey) };
  } else if (t.tls) {
    tls = { caFile: t.tls.caFile, serverName: t.tls.serverName ?? null };
  }
  return { host: t.host, port: t.port, export: t.export, tls };
}

/** host:port/export (TLS), for logs and messages. */
export function targetLabel(t: StoredTarget): string {
  return `${t.host}:${t.port}/${t.export}${t.tls ? ' (TLS)' : ''}`;
}

/**
 * Copy engine chunks in flight when a failback copies into another node's volume (a pair
 * or a local copy into a virtual volume), and the NBD client's requests in flight to
 * match (our server reads up to 256 requests ahead). A delta is scattered blocks, one
 * request each. With few in flight they travel in one burst: the primary idles while the
 * secondary reads and sends them, the secondary while the primary writes them. Enough in
 * flight keeps both nodes busy at once (bench:failback, 8 GiB, 4 KiB blocks: the copy of
 * 20,859 blocks took 1.43 s with 64, 1.18 s with 256; 64 was already 13% faster than 16).
 * A full copy's 4 MiB chunks stay at 16 in flight: the copy engine's byte budget. The
 * cost: during a failback's initial copy a host's read on the secondary may wait behind
 * up to 256 copy reads in the thread pool (from the page cache, a fraction of a
 * millisecond; from a cold disk, a few).
 */
export const COPY_CONCURRENCY = 256;

/**
 * Batches in flight when the source volume reads scattered chunks in batches (a read
 * worker reads up to 1 MiB of them per message, CopyOptions.maxBatchesInFlight): enough
 * that one is being read while the others' writes fill the NBD window, few enough that
 * the writes waiting for the window stay short-lived.
 */
export const COPY_BATCHES = 4;

/** The NBD client options that dial a stored target (INVALID_ARGUMENT when its CA file is unreadable). */
export async function dialOptions(
  t: StoredTarget,
  secrets: Secrets,
  connectTimeoutMs: number,
): Promise<NbdClientOptions> {
  let tls: NbdClientTlsOptions | undefined;
  if (t.tls && 'sealedPskKey' in t.tls) {
    tls = { psk: { identity: t.tls.pskIdentity, key: secrets.open(t.tls.sealedPskKey) } };
  } else if (t.tls) {
    let ca: string;
    try {
      ca = await readFile(t.tls.caFile, 'utf8');
    } catch (err) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `cannot read the CA file ${t.tls.caFile}: ${(err as Error).message}`,
        { detail: { field: 'target.tls.caFile' } },
      );
    }
    tls = { x509: { ca, ...(t.tls.serverName ? { serverName: t.tls.serverName } : {}) } };
  }
  return {
    host: t.host,
    port: t.port,
    exportName: t.export,
    tls,
    connectTimeoutMs,
    maxInFlight: COPY_CONCURRENCY,
  };
}
