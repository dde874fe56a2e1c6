// Failover and failback through the object store end to end (SPEC S101-S108, S801-S906) with a real primary node, a manager and the local
// site provider building the secondary as a real `rebound node` process: a host writes
// with qemu-io, the volume is backed up, the primary drifts after the backup, then the
// failover restores the backup at the secondary with the unique ID inherited, and
// consistency assurance fences the primary, keeps a snapshot of its drift and brings
// only the drifted blocks back to the backup. Writes at the secondary show in `dr status`;
// a second failover of the same volume is refused. Then the failback through the object
// store: the secondary writes generation N+1 of its changes only, the primary applies only
// that generation, and ends byte-identical to what the secondary held (qemu-img compare
// with a reference image), the secondary torn down. Then again by remote copy: the pair
// runs over TLS with a key the manager made for the job (the primary's NBD server is
// configured with TLS off), a plain host writing to the primary volume mid-failback is
// refused, and the key shows in no API answer and no log. Last, a secondary built with
// 4 KiB blocks (the backups have 64 KiB): the failover restores it byte for byte, the
// object-store failback is refused before anything stops, remote copy moves the 4 KiB.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type JobView, ManagerClient, type RunningManager, startManager } from '../../src/manager/index.js';
import { nbdTargetIdentity, nbdTargetKey } from '../../src/manager/jobs/index.js';
import { captureLogger } from '../helpers/capture-logger.js';
import {
  assertIdentical,
  backUp,
  doneSpecs,
  MiB,
  readsAs,
  registerPrimary,
  teardownLocalSites,
} from '../helpers/dr-fixture.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { qemuIo, requireTools, runCli, runOk } from '../helpers/tools.js';

describe('failover to a secondary site built by the local provider', () => {
  let primary: NodeFixture;
  let dir: string;
  let m: RunningManager;
  let admin: ManagerClient;
  const primaryLog = captureLogger();
  const managerLog = captureLogger();

  before(async () => {
    requireTools('qemu-io', 'qemu-img');
    primary = await startTestNode({ logger: primaryLog.logger });
    dir = await mkdtemp(join(tmpdir(), 'rebound-failover-'));
    m = await startManager(
      join(dir, 'manager'),
      { apiPort: 0, secretKey: 'ef'.repeat(32) },
      { jobPollMs: 50, logger: managerLog.logger },
    );
    admin = new ManagerClient(m.apiUrl, m.bootstrap!.token);
    await registerPrimary(admin, primary, join(dir, 'store'));
    await admin.createVolume('p1', 'app', 64 * MiB);
  });
  after(async () => {
    await teardownLocalSites(join(dir, 'manager'), 'dr', 'dr4k');
    await m?.close();
    await primary?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('restores at the secondary with the inherited ID and brings the primary back to the base', async () => {
    assert.equal((await qemuIo(primary.uri('app'), ['write -P 0x11 0 4M'])).code, 0);
    await backUp(admin, 'app', 'full');
    // The primary drifts after its last backup (later writes the secondary will not have).
    assert.equal((await qemuIo(primary.uri('app'), ['write -P 0x99 8M 128k'])).code, 0);

    const job = await admin.failover({ site: 'dr', store: 'local', volumes: ['app'] });
    await assert.rejects(
      admin.failover({ site: 'dr', store: 'local', volumes: ['app'] }),
      /still active|already failed over/,
    );
    const end = await admin.waitJob(job.id, { intervalMs: 100, timeoutMs: 180_000 });
    assert.equal(end.state, 'succeeded', JSON.stringify(end.error));
    const specs = doneSpecs(end);
    for (const s of ['S101-S102', 'S103', 'S104', 'S201-S211', 'S106-S107', 'S108, S301-S303'])
      assert.ok(specs.includes(s), `step ${s} is in the log`);

    // The secondary: a real node process, registered, the volume restored with the ID inherited.
    const appPrimary = await admin.getVolume(`${primary.node.serial}:1`);
    const secondary = (await admin.listVolumes({ node: 'dr-node' })).find((v) => v.name === 'app');
    assert.ok(secondary, 'the volume exists at the secondary');
    assert.equal(secondary.inheritedUniqueId, appPrimary.uniqueId, 'S210: the unique ID is inherited');
    assert.notEqual(secondary.serial, primary.node.serial);
    const drNode = await admin.getNode('dr-node');
    const id = await m.registry.client(await m.registry.node('dr-node')).identity();
    const secondaryUri = `nbd://127.0.0.1:${id.nbd.port}/app`;
    await readsAs(secondaryUri, '0x11', '0', '4M');
    await readsAs(secondaryUri, '0x00', '8M', '128k');
    assert.equal(drNode.health, 'ok');

    // S108: the primary was fenced, its drift kept in a snapshot, and only the drifted blocks rewritten.
    const ca = (end.result as { volumes: { consistency: { owed: boolean; mode: string; blocks: number } }[] })
      .volumes[0].consistency;
    assert.deepEqual([ca.owed, ca.mode, ca.blocks], [false, 'delta', 2]);
    assert.equal(
      (await primary.client.getVolume('app')).fenced,
      true,
      'S301: host I/O stopped on the primary',
    );
    assert.ok(
      end.log?.some((l) => l.message.includes(`snapshot before-failback-${job.id} kept`)),
      'the job log names the snapshot',
    );
    await readsAs(primary.uri(`app@before-failback-${job.id}`), '0x99', '8M', '128k');
    await primary.client.unfence('app');
    await readsAs(primary.uri('app'), '0x00', '8M', '128k');
    await readsAs(primary.uri('app'), '0x11', '0', '4M');
    await primary.client.fence('app');

    // Hosts now write at the secondary; dr status counts what changed since failover.
    assert.equal((await qemuIo(secondaryUri, ['write -P 0x22 16M 64k'])).code, 0);
    const [dr] = await admin.drStatus();
    assert.equal(dr.active, 'secondary');
    assert.equal(dr.state, 'failed-over');
    assert.equal(dr.consistency, 'done');
    assert.equal(dr.changedBlocks, 1);
    assert.equal(dr.changedBytes, 64 * 1024);
    assert.equal(dr.secondarySite, 'dr');
    assert.ok(dr.rpoSeconds !== null && dr.rpoSeconds >= 0);
    assert.match(
      await runCli({ url: m.apiUrl, token: m.bootstrap!.token }, 'dr', 'status'),
      new RegExp(`app: consistency assurance at failover: .*kept in snapshot before-failback-${job.id}`),
      'dr status says where the drift is kept',
    );

    // The name is now held by two nodes: the unique ID names the primary volume.
    await assert.rejects(admin.failover({ site: 'dr', store: 'local', volumes: ['app'] }), /several nodes/);
    await assert.rejects(
      admin.failover({ site: 'dr', store: 'local', volumes: [appPrimary.uniqueId] }),
      /already failed over/,
    );
    // The restored secondary volume carries the same lineage: failing it over again is refused too.
    await assert.rejects(
      admin.failover({ site: 'dr', store: 'local', volumes: [secondary.uniqueId] }),
      /already failed over/,
    );

    // Failback through the object store. A reference image of what the secondary holds,
    // then the primary must end identical to it.
    assert.equal((await qemuIo(secondaryUri, ['write -P 0x33 32M 192k'])).code, 0);
    const ref = join(dir, 'reference.raw');
    await runOk('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', secondaryUri, ref]);
    const fb = await admin.failback({ volume: appPrimary.uniqueId, method: 'object-store' });
    const back = await admin.waitJob(fb.id, { intervalMs: 100, timeoutMs: 180_000 });
    assert.equal(back.state, 'succeeded', JSON.stringify(back.error));
    const moved = back.result as {
      delta: boolean;
      blocksMoved: number;
      movedBlockBytes: number;
      changedBlocks: number;
      bytesMoved: number;
      verify: unknown;
    };
    assert.equal(moved.delta, true, 'IDs equal and the primary at the base: only the changes move');
    assert.equal(moved.changedBlocks, 4, '1 + 3 blocks written at the secondary');
    assert.equal(moved.blocksMoved, 4, 'generation N+1 holds 4 whole blocks');
    assert.equal(moved.movedBlockBytes, 64 * 1024);
    assert.equal(moved.bytesMoved, 4 * 64 * 1024);
    assert.equal(
      back.log?.at(-1)?.message,
      'app is back at p1: 256 KiB moved for 256 KiB changed in 4 blocks',
      'the last line of the log, in units an operator reads',
    );
    // The default verify compares the changed grains (64), and the drift consistency
    // assurance rewrote at failover (8M, 128 KiB: 32 grains).
    assert.deepEqual(moved.verify, {
      identical: true,
      scope: 'changed',
      blocksCompared: 96,
      hashBlockBytes: 4096,
      // The secondary answers for the 64 grains generation N+1 read with the hashes its read
      // workers took then; the drift's 32, which N+1 did not read, it reads again.
      hashesFromCopy: 64,
    });
    const backSpecs = doneSpecs(back);
    for (const s of ['S503', 'S801', 'S803-S806', 'S903', 'S904', 'S905', 'S906'])
      assert.ok(backSpecs.includes(s), `step ${s} is in the failback log`);
    assert.equal((await primary.client.getVolume('app')).fenced, false, 'S905: the primary accepts I/O');
    await assertIdentical(primary.uri('app'), ref);
    const [after] = await admin.drStatus();
    assert.deepEqual([after.active, after.state], ['primary', 'failed-back']);
    await assert.rejects(admin.getNode('dr-node'), /no node named/, 'S906: the secondary is gone');
    // S901: the store lists generation N+1 under the lineage, written by the secondary's
    // restored volume; the generations before it by the primary volume itself.
    const gens = await admin.listGenerations('local', { uniqueId: appPrimary.uniqueId });
    const n1 = gens.find((g) => g.key === (back.result as { generation: string }).generation);
    assert.deepEqual([n1?.uniqueId, n1?.writtenBy], [appPrimary.uniqueId, secondary.uniqueId]);
    assert.ok(
      gens.filter((g) => g !== n1).every((g) => g.writtenBy === appPrimary.uniqueId),
      JSON.stringify(gens.map((g) => [g.generation, g.writtenBy])),
    );
    const listed = await runCli(
      { url: m.apiUrl, token: m.bootstrap!.token },
      'backup',
      'list',
      '--store',
      'local',
      '--volume',
      appPrimary.uniqueId,
    );
    assert.match(
      listed,
      new RegExp(
        `^${n1?.generation}\\s+incremental\\s.*app \\(${appPrimary.uniqueId}\\)\\s+${secondary.uniqueId}\\s`,
        'm',
      ),
    );
  });

  it('fails over again and back by remote copy: a pair with a journal moves only the changes', async () => {
    const id = (await admin.listVolumes({ node: 'p1' }))[0].uniqueId;
    await backUp(admin, id, 'incremental');
    // The primary drifts again after this backup: this failover keeps that drift in a
    // snapshot of its own, not in the first failover's (which is kept too).
    assert.equal((await qemuIo(primary.uri('app'), ['write -P 0x77 56M 64k'])).code, 0);
    // The secondary's stop-hosts hook runs mid-failback (S406, the pair streaming): a plain
    // host there tries to write into the primary volume.
    const probe = join(dir, 'plain-write.txt');
    const plainWrite = `qemu-io -f raw -c 'write -P 0x66 0 64k' ${primary.uri('app')} > ${probe} 2>&1; echo "exit $?" >> ${probe}`;
    const fo = await admin.waitJob(
      (
        await admin.failover({
          site: 'dr',
          store: 'local',
          volumes: [id],
          hooks: { stopHosts: { command: plainWrite } },
        })
      ).id,
      { intervalMs: 100, timeoutMs: 180_000 },
    );
    assert.equal(fo.state, 'succeeded', JSON.stringify(fo.error));
    assertShowsRestore(fo);
    const kept = (await primary.client.listSnapshots('app'))
      .map((s) => s.name)
      .filter((n) => n.startsWith('before-failback-'));
    assert.equal(kept.length, 2, JSON.stringify(kept));
    assert.ok(kept.includes(`before-failback-${fo.id}`), JSON.stringify(kept));
    await readsAs(primary.uri(`app@before-failback-${fo.id}`), '0x77', '56M', '64k');
    const [dr] = await admin.drStatus();
    const uri = dr.secondaryNbdUri!;
    assert.equal((await qemuIo(uri, ['write -P 0x44 40M 64k', 'write -P 0x45 48M 128k'])).code, 0);
    const ref = join(dir, 'reference2.raw');
    await runOk('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, ref]);

    const fb = await admin.waitJob(
      (await admin.failback({ volume: 'app', method: 'remote-copy', verify: 'full' })).id,
      { intervalMs: 100, timeoutMs: 180_000 },
    );
    assert.equal(fb.state, 'succeeded', JSON.stringify(fb.error));
    const r = fb.result as {
      delta: boolean;
      blocksMoved: number;
      movedBlockBytes: number;
      bytesMoved: number;
      changedBlocks: number;
      changedBlockBytes: number;
      verify: unknown;
    };
    // 3 blocks of 64 KiB changed; the pair copies 4 KiB grains: 48 of them.
    assert.deepEqual(
      [r.delta, r.changedBlocks, r.changedBlockBytes, r.blocksMoved, r.movedBlockBytes],
      [true, 3, 64 * 1024, 48, 4096],
      JSON.stringify(r),
    );
    // verify 'full': every 64 KiB block of the 64 MiB volumes, though only 3 moved.
    assert.deepEqual(r.verify, {
      identical: true,
      scope: 'full',
      blocksCompared: 1024,
      hashBlockBytes: 65536,
      hashesFromCopy: 0, // whole blocks are read again on both nodes
    });
    // The job's last progress, as `rebound job show` reads it: the whole-volume verify's end.
    assert.deepEqual([fb.progress?.bytesDone, fb.progress?.bytesTotal], [64 * 1024 * 1024, 64 * 1024 * 1024]);
    assert.equal(r.bytesMoved, 3 * 64 * 1024);
    const specs = doneSpecs(fb);
    for (const s of ['S503', 'S404', 'S403, S501-S504', 'S506-S507', 'S406', 'S405', 'S407', 'S408'])
      assert.ok(specs.includes(s), `step ${s} is in the failback log`);
    await assertIdentical(primary.uri('app'), ref);
    assert.equal((await admin.drStatus())[0].active, 'primary');

    // The pair ran over TLS with the job's key: the primary's NBD server says so.
    const identity = nbdTargetIdentity({ node: 'p1', volume: 'app', name: fb.id });
    const tls = (fb.result as { tls: { identity: string; tlsSessions: number } }).tls;
    assert.equal(tls.identity, identity);
    assert.ok(tls.tlsSessions >= 1, `the pair's connections were TLS with its key: ${JSON.stringify(tls)}`);
    const sessions = primaryLog.lines
      .map((l) => JSON.parse(l) as { msg: string; export?: string; tls?: boolean; pskIdentity?: string })
      .filter(
        (l) => l.msg === 'NBD transmission started' && l.export === 'app' && l.pskIdentity === identity,
      );
    assert.ok(sessions.length >= 1 && sessions.every((l) => l.tls), 'the primary logged the TLS session');
    // Mid-failback a plain host could not write into the primary volume (compare above: nothing landed).
    const refused = await readFile(probe, 'utf8');
    assert.match(refused, /target of a failback/, refused);
    assert.doesNotMatch(refused, /exit 0/);
    // The job ended: the key is gone from the primary, which is plain for hosts again.
    await assert.rejects(primary.client.getPairKey('app'), /has no pair key/);

    // The key never shows: in no API answer, no log, nothing on disk in the clear.
    const key = nbdTargetKey(m.registry, { node: 'p1', volume: 'app', name: fb.id });
    assert.match(key, /^[0-9a-f]{64}$/);
    const seen = [
      JSON.stringify(await admin.getJob(fb.id)),
      JSON.stringify(await admin.events({ limit: 500 })),
      JSON.stringify(await admin.audit({ limit: 500 })),
      JSON.stringify(await admin.drStatus()),
      JSON.stringify(await primary.client.listVolumes()),
      managerLog.lines.join(''),
      primaryLog.lines.join(''),
      await readFile(join(dir, 'manager', 'sites', 'dr', 'node.log'), 'utf8'),
      await readFile(join(primary.dataDir, 'pair-keys.json'), 'utf8'),
    ];
    assert.ok(seen[6].length > 0 && seen[7].includes('pair'), 'the logs were captured');
    for (const [i, text] of seen.entries()) assert.ok(!text.includes(key), `the key shows in source ${i}`);
  });

  it('fails over into a secondary with 4 KiB blocks: remote copy brings the 4 KiB home, the object store is refused up front', async () => {
    // The backups have the primary's 64 KiB blocks; the secondary's pool is built with 4 KiB.
    const id = (await admin.listVolumes({ node: 'p1' }))[0].uniqueId;
    await backUp(admin, id, 'incremental');
    const fo = await admin.waitJob(
      (
        await admin.failover({
          site: 'dr4k',
          store: 'local',
          volumes: [id],
          provider: { type: 'local', blockSizeBytes: 4096 },
        })
      ).id,
      { intervalMs: 100, timeoutMs: 180_000 },
    );
    assert.equal(fo.state, 'succeeded', JSON.stringify(fo.error));
    assertShowsRestore(fo);
    const [dr] = await admin.drStatus();
    const node = await m.registry.node(dr.secondaryNode!);
    assert.equal((await m.registry.client(node).identity()).pool.blockSizeBytes, 4096);
    const uri = dr.secondaryNbdUri!;
    // The restore copied bytes, not blocks: the secondary reads as the primary did.
    await assertIdentical(uri, join(dir, 'reference2.raw'));
    assert.equal((await qemuIo(uri, ['write -P 0x77 1M 4k'])).code, 0);
    assert.deepEqual(
      [(await admin.drStatus())[0].changedBlocks, (await admin.drStatus())[0].changedBytes],
      [1, 4096],
    );

    // Generation N+1 would need the chain's 64 KiB blocks: refused before anything stops.
    await assert.rejects(admin.failback({ volume: id, method: 'object-store' }), (err: Error) => {
      assert.match(err.message, /4096-byte pool blocks and the backups of \S+ 65536-byte ones/);
      assert.match(err.message, /remote-copy or external/);
      return true;
    });
    assert.equal((await admin.drStatus())[0].state, 'failed-over', 'no job was started');
    assert.equal((await qemuIo(uri, ['write -P 0x78 2M 4k'])).code, 0, 'the secondary still takes writes');

    const ref = join(dir, 'reference3.raw');
    await runOk('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, ref]);
    const fb = await admin.waitJob((await admin.failback({ volume: id, method: 'remote-copy' })).id, {
      intervalMs: 100,
      timeoutMs: 180_000,
    });
    assert.equal(fb.state, 'succeeded', JSON.stringify(fb.error));
    const r = fb.result as { delta: boolean; blocksMoved: number; bytesMoved: number };
    assert.deepEqual([r.delta, r.blocksMoved, r.bytesMoved], [true, 2, 2 * 4096], JSON.stringify(r));
    await assertIdentical(primary.uri('app'), ref);
  });
});

/** Its consistency assurance had nothing to rewrite ("0 of 0"): a failover shows its restore. */
function assertShowsRestore(job: JobView): void {
  assert.ok((job.progress?.bytesTotal ?? 0) > 0, JSON.stringify(job.progress));
  assert.equal(job.progress?.bytesDone, job.progress?.bytesTotal);
}
