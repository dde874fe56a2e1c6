/**
 * What the failover and failback tests share: a primary site with one registered node and
 * a directory store, failover jobs run to their end, the secondary's NBD address from
 * `dr status`, reads checked by pattern with qemu-io, reference images and qemu-img
 * compare, and the teardown of the local site provider's secondary node processes.
 */
import assert from 'node:assert/strict';
import type { ManagerClient } from '../../src/manager/client.js';
import type { JobView } from '../../src/manager/index.js';
import { sites } from '../../src/manager/index.js';
import type { NodeFixture } from './node-fixture.js';
import { qemuIo, runOk } from './tools.js';

export const MiB = 2 ** 20;

/** Site dc1 (primary) with the node as p1, and the directory store `local` at `storeDir`. */
export async function registerPrimary(admin: ManagerClient, primary: NodeFixture, storeDir: string) {
  await admin.addSite({ name: 'dc1', role: 'primary' });
  await admin.registerNode({ name: 'p1', site: 'dc1', url: primary.node.apiUrl, token: primary.node.token });
  await admin.addStore({ name: 'local', provider: 'directory', path: storeDir });
}

/** Stop (and delete) the secondary nodes the local provider built under the manager's data. */
export async function teardownLocalSites(managerDataDir: string, ...names: string[]): Promise<void> {
  for (const name of names)
    await sites
      .openSiteProvider({ type: 'local' }, { dataDir: managerDataDir })
      .teardown({ name }, { purge: true })
      .catch(() => undefined);
}

/** The pattern qemu-io finds at offset+length of `uri` (read-only). */
export async function readsAs(uri: string, pattern: string, offset: string, length: string): Promise<void> {
  const r = await qemuIo(uri, [`read -P ${pattern} ${offset} ${length}`], { readOnly: true });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /Pattern verification failed/, `${uri} ${offset}+${length} reads ${pattern}`);
}

/** qemu-io writes that must succeed (a host writing). */
export async function hostWrites(uri: string, ...commands: string[]): Promise<void> {
  const r = await qemuIo(uri, commands);
  assert.equal(r.code, 0, `${uri}: ${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stdout + r.stderr, /error|failed/i, `${uri}: ${r.stdout}${r.stderr}`);
}

/** A raw image of what `uri` holds now. */
export async function imageOf(uri: string, path: string): Promise<string> {
  await runOk('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, path]);
  return path;
}

/** qemu-img compare says identical (either side an NBD URI or a raw file). */
export async function assertIdentical(a: string, b: string): Promise<void> {
  const out = await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', a, b]);
  assert.match(out, /Images are identical/, `${a} against ${b}`);
}

/** The SPEC numbers of the steps a job finished, in order. */
export function doneSpecs(job: JobView): (string | null)[] {
  return (job.log ?? []).filter((l) => l.status === 'done').map((l) => l.spec);
}

/** Back the volume up (to store `local`) and wait for the job. */
export async function backUp(admin: ManagerClient, volume: string, method: 'full' | 'incremental') {
  const job = await admin.waitJob((await admin.backup({ volume, store: 'local', method })).id, {
    intervalMs: 50,
  });
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  return job;
}

/** Fail `volumes` over to `site` (built by the local provider), wait, return the job and the secondary's URI of the first. */
export async function failOver(
  admin: ManagerClient,
  volumes: string[],
  options: { site?: string; hooks?: Record<string, unknown>; provider?: Record<string, unknown> } = {},
): Promise<{ job: JobView; secondaryUri: string }> {
  const started = await admin.failover({
    site: options.site ?? 'dr',
    store: 'local',
    volumes,
    ...(options.hooks ? { hooks: options.hooks } : {}),
    ...(options.provider ? { provider: options.provider } : {}),
  } as Parameters<ManagerClient['failover']>[0]);
  const job = await admin.waitJob(started.id, { intervalMs: 50, timeoutMs: 120_000 });
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  const dr = (await admin.drStatus()).find((d) => d.active === 'secondary' && d.failoverJob === job.id);
  assert.ok(dr?.secondaryNbdUri, 'dr status names the secondary export');
  return { job, secondaryUri: dr.secondaryNbdUri };
}
