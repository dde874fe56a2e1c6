// Failback by external volume virtualization (SPEC S701-S710) end to end, with a real
// primary node, a manager, the local site provider building the secondary as a real
// `rebound node` process, and qemu-io / qemu-img as the hosts:
//
// 1. Write, back up, kill the primary, fail over (consistency assurance is owed), change
//    about 1% at the secondary, start the primary again, fail back by external volume:
//    consistency assurance first, the IDs equal, so only the changed blocks are copied into
//    the primary attached at the secondary as a virtual volume, plus (second pass) the
//    write a host made while it was being stopped. The job verifies by block hashes;
//    qemu-img compare with a reference image says identical.
// 2. The different-ID case, with the ID read from the primary itself (Fig. 27-28): the
//    primary's volume was made anew, so everything is copied. A stray local write hits the
//    primary during the first attempt: verify fails it naming that block (VOLUMES_DIFFER)
//    and leaves the secondary up; the attempt after it ends identical.
// 3. `rebound volume compare` (API and CLI): identical volumes, then one flipped block,
//    named by number.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ManagerClient, type RunningManager, sites, startManager } from '../../src/manager/index.js';
import { type NodeFixture, startTestNode } from '../helpers/node-fixture.js';
import { freePort } from '../helpers/radosgw.js';
import { qemuIo, requireTools, runOk } from '../helpers/tools.js';

const exec = promisify(execFile);
const MiB = 2 ** 20;
const BLOCK = 64 * 1024;

describe('failback by external volume', () => {
  let primary: NodeFixture;
  let dir: string;
  let m: RunningManager;
  let admin: ManagerClient;
  let ports: { api: number; nbd: number };

  const primaryUri = (name: string) => `nbd://127.0.0.1:${ports.nbd}/${name}`;
  const flag = (name: string) => join(dir, name);
  const wait = (id: string) => admin.waitJob(id, { intervalMs: 100, timeoutMs: 240_000 });
  const doneSpecs = (job: { log?: { status: string; spec: string | null }[] }) =>
    (job.log ?? []).filter((l) => l.status === 'done').map((l) => l.spec);

  /** What the secondary holds now, plus the write the hosts make while being stopped. */
  async function reference(uri: string, file: string): Promise<string> {
    const ref = join(dir, file);
    await runOk('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, ref]);
    await runOk('qemu-io', ['-f', 'raw', '-c', 'write -P 0x77 40M 64k', ref]);
    return ref;
  }

  before(async () => {
    requireTools('qemu-io', 'qemu-img');
    ports = { api: await freePort(), nbd: await freePort() };
    primary = await startTestNode({
      init: { apiListen: `127.0.0.1:${ports.api}`, nbdListen: `127.0.0.1:${ports.nbd}` },
    });
    dir = await mkdtemp(join(tmpdir(), 'rebound-fb-external-'));
    m = await startManager(
      join(dir, 'manager'),
      { apiPort: 0, secretKey: 'ef'.repeat(32) },
      { jobPollMs: 50 },
    );
    admin = new ManagerClient(m.apiUrl, m.bootstrap!.token);
    await admin.addSite({ name: 'dc1', role: 'primary' });
    await admin.registerNode({
      name: 'p1',
      site: 'dc1',
      url: primary.node.apiUrl,
      token: primary.node.token,
    });
    await admin.addStore({ name: 'local', provider: 'directory', path: join(dir, 'store') });
    await admin.createVolume('p1', 'app', 64 * MiB);
  });
  after(async () => {
    await sites
      .openSiteProvider({ type: 'local' }, { dataDir: join(dir, 'manager') })
      .teardown({ name: 'dr' }, { purge: true })
      .catch(() => undefined);
    await m?.close();
    await primary?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('moves only the changed blocks into the primary attached as a virtual volume, after the primary died', async () => {
    assert.equal(
      (
        await qemuIo(primary.uri('app'), [
          'write -P 0x11 0 8M',
          'write -P 0x12 20M 4M',
          'write -P 0x13 60M 1M',
        ])
      ).code,
      0,
    );
    const backup = await wait((await admin.backup({ volume: 'app', store: 'local', method: 'full' })).id);
    assert.equal(backup.state, 'succeeded', JSON.stringify(backup.error));
    const original = await admin.getVolume('app');

    // The primary dies; the failover cannot reach it, so consistency assurance is owed.
    await primary.stop();
    // The secondary's hosts: when stopped, they write once more (and, when told, a stray
    // host writes to the primary: see the second test).
    const hook = [
      `if [ -e ${flag('last-write')} ]; then qemu-io -f raw -c 'write -P 0x77 40M 64k' "$REBOUND_NBD_URI" && rm ${flag('last-write')}; fi`,
      `if [ -e ${flag('stray')} ]; then touch ${flag('stray-ready')}; while [ ! -e ${flag('stray-done')} ]; do sleep 0.05; done; rm -f ${flag('stray')} ${flag('stray-done')}; fi`,
    ].join('\n');
    const fo = await wait(
      (
        await admin.failover({
          site: 'dr',
          store: 'local',
          volumes: ['app'],
          hooks: { stopHosts: { command: hook } },
        })
      ).id,
    );
    assert.equal(fo.state, 'succeeded', JSON.stringify(fo.error));
    const [dr] = await admin.drStatus();
    assert.equal(dr.consistency, 'owed');
    const uri = dr.secondaryNbdUri!;

    // About 1% of the 64 MiB changes at the secondary: 10 blocks of 64 KiB and 4 KiB of
    // another (counted and copied in the bitmaps' grain, 4 KiB: 161 grains).
    assert.equal(
      (
        await qemuIo(uri, [
          'write -P 0x21 1M 64k',
          'write -P 0x22 30M 256k',
          'write -P 0x23 50M 320k',
          'write -P 0x24 52M 4k',
        ])
      ).code,
      0,
    );
    const ref = await reference(uri, 'reference1.raw');
    await writeFile(flag('last-write'), '');

    primary = await startTestNode({ dataDir: primary.dataDir });
    await admin.checkNode('p1');
    const fb = await wait((await admin.failback({ volume: original.uniqueId, method: 'external' })).id);
    assert.equal(fb.state, 'succeeded', JSON.stringify(fb.error));
    const r = fb.result as {
      delta: boolean;
      changedBlocks: number;
      changedBytes: number;
      blocksMoved: number;
      movedBlockBytes: number;
      bytesMoved: number;
      passes: { blocks: number; blockBytes: number; mode: string }[];
      verify: { identical: boolean; blocksCompared: number; hashesFromCopy: number };
      tls: { identity: string; tlsSessions: number };
    };
    assert.equal(r.delta, true, 'consistency assurance done, IDs equal: only the changes move');
    // The virtual volume reached the primary over TLS with the job's key (nbd-target.ts).
    assert.equal(r.tls.identity, `rebound-${fb.id}`);
    assert.ok(r.tls.tlsSessions >= 1, JSON.stringify(r.tls));
    const GRAIN = 4096;
    assert.equal(r.changedBlocks, 11, 'blocks touched');
    assert.equal(r.changedBytes, 10 * BLOCK + GRAIN, 'the grains written in them');
    assert.deepEqual(r.passes, [
      { blocks: 161, blockBytes: GRAIN, mode: 'delta' },
      { blocks: 16, blockBytes: GRAIN, mode: 'delta' },
    ]);
    assert.deepEqual([r.blocksMoved, r.movedBlockBytes], [177, GRAIN]);
    assert.equal(r.bytesMoved, 11 * BLOCK + GRAIN);
    // The changed grains are compared (the default), the last pass's block among them.
    assert.deepEqual(r.verify, {
      identical: true,
      scope: 'changed',
      blocksCompared: 177,
      hashBlockBytes: GRAIN,
      // Every grain compared was read by one of the passes and not written after it: the
      // secondary answers with the hashes its read workers took as they read them.
      hashesFromCopy: 177,
    });
    // What `rebound job show` reads once the job ended: the verify's last report, every
    // changed grain compared (not an earlier report that the progress throttle kept).
    assert.deepEqual([fb.progress?.bytesDone, fb.progress?.bytesTotal], [177 * GRAIN, 177 * GRAIN]);
    const specs = doneSpecs(fb);
    for (const s of ['S301-S303', 'S704', 'S702', 'S704-S705', 'S705', 'S708', 'S707', 'S709', 'S710'])
      assert.ok(specs.includes(s), `step ${s} is in the failback log`);

    const cmp = await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', primaryUri('app'), ref]);
    assert.match(cmp, /Images are identical/);
    assert.equal((await primary.client.getVolume('app')).fenced, false, 'S709: the primary accepts I/O');
    assert.deepEqual(await primary.client.listExternals(), [], 'nothing attached at the primary');
    const [back] = await admin.drStatus();
    assert.deepEqual([back.active, back.state], ['primary', 'failed-back']);
    assert.deepEqual([back.failback?.method, back.failback?.state], ['external', 'succeeded']);
    await assert.rejects(admin.getNode('dr-node'), /no node named/, 'S710: the secondary is gone');
  });

  it('copies everything when the primary reports another ID; a stray write fails verify and keeps the secondary', async () => {
    const b = await wait((await admin.backup({ volume: 'app', store: 'local', method: 'incremental' })).id);
    assert.equal(b.state, 'succeeded', JSON.stringify(b.error));
    const fo = await wait((await admin.failover({ site: 'dr', store: 'local', volumes: ['app'] })).id);
    assert.equal(fo.state, 'succeeded', JSON.stringify(fo.error));
    const [dr] = await admin.drStatus();
    assert.equal(dr.consistency, 'done');
    const uri = dr.secondaryNbdUri!;
    assert.equal((await qemuIo(uri, ['write -P 0x31 3M 128k', 'write -P 0x32 33M 512k'])).code, 0);
    const ref = await reference(uri, 'reference2.raw');
    const secondary = (await admin.listVolumes({ node: 'dr-node' }))[0];

    // The primary's volume is made anew (new drives, say): same name, another unique ID.
    // The snapshots consistency assurance kept (the first test's failback, this failover).
    for (const s of await primary.client.listSnapshots('app'))
      await primary.client.deleteSnapshot('app', s.name);
    await primary.client.deleteVolume('app');
    const fresh = await primary.client.createVolume('app', 64 * MiB);
    assert.notEqual(fresh.uniqueId, dr.lineage);
    await admin.checkNode('p1');

    // First attempt: a stray write lands on the primary between the passes. Not over NBD:
    // the export opens only for the job's TLS key meanwhile. On the node itself, as a
    // local process or a bug would, while the secondary's stop-hosts hook waits.
    await writeFile(flag('last-write'), '');
    await writeFile(flag('stray'), '');
    const started = await admin.failback({
      volume: secondary.uniqueId,
      method: 'external',
      readIdFrom: 'primary',
    });
    while (!existsSync(flag('stray-ready'))) await sleep(50);
    const device = primary.node.storage.device('app');
    await device.write(62 * MiB, Buffer.alloc(64 * 1024, 0x66));
    await device.flush();
    await writeFile(flag('stray-done'), '');
    const bad = await wait(started.id);
    assert.equal(bad.state, 'failed');
    assert.equal(bad.error?.code, 'VOLUMES_DIFFER');
    assert.match(bad.error?.message ?? '', /1 of 1024 blocks of 64 KiB differ, first at block 992\b/);
    const detail = bad.error?.detail as { firstMismatches: { block: number; offset: number }[] };
    assert.deepEqual(detail.firstMismatches, [{ block: 992, offset: 62 * MiB }]);
    assert.ok(!doneSpecs(bad).includes('S707'), "the primary's hosts did not start");
    assert.equal((await admin.getNode('dr-node')).health, 'ok', 'the secondary is left up');
    assert.equal((await admin.drStatus())[0].active, 'secondary');

    const fb = await wait(
      (await admin.failback({ volume: secondary.uniqueId, method: 'external', readIdFrom: 'primary' })).id,
    );
    assert.equal(fb.state, 'succeeded', JSON.stringify(fb.error));
    const r = fb.result as {
      delta: boolean;
      idsFrom: string;
      destinationId: string;
      why: string;
      blocksMoved: number;
      movedBlockBytes: number;
      passes: { blocks: number; blockBytes: number; mode: string }[];
    };
    assert.deepEqual([r.delta, r.idsFrom, r.destinationId], [false, 'primary', fresh.uniqueId]);
    assert.match(r.why, /the primary reports .* not /);
    assert.deepEqual(r.passes[0], { blocks: 1024, blockBytes: BLOCK, mode: 'full' }, 'S706: every block');
    // The second pass copies grains: the total counts both passes in that unit.
    const [, last] = r.passes;
    assert.equal(last.blockBytes, 4096, JSON.stringify(r.passes));
    assert.deepEqual(
      [r.blocksMoved, r.movedBlockBytes],
      [(1024 * BLOCK) / 4096 + last.blocks, 4096],
      JSON.stringify(r),
    );
    assert.ok(
      !(fb.log ?? []).some((l) => l.step === 'ids'),
      'the manager compared no IDs: the secondary did',
    );
    const cmp = await runOk('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', primaryUri('app'), ref]);
    assert.match(cmp, /Images are identical/);
  });

  it('compares two volumes by their block hashes and names a flipped block', async () => {
    await admin.createVolume('p1', 'copy', 64 * MiB);
    await runOk('qemu-img', [
      'convert',
      '-n',
      '-f',
      'raw',
      '-O',
      'raw',
      primaryUri('app'),
      primaryUri('copy'),
    ]);
    const same = await admin.compareVolumes('p1/app', 'p1/copy');
    assert.deepEqual([same.identical, same.blocksCompared, same.mismatchCount], [true, 1024, 0]);

    assert.equal((await qemuIo(primaryUri('copy'), ['write -P 0xee 2359300 1'])).code, 0); // in block 36
    const diff = await admin.compareVolumes('p1/app', 'p1/copy');
    assert.deepEqual(
      [diff.identical, diff.mismatchCount, diff.firstMismatches],
      [false, 1, [{ block: 36, offset: 36 * BLOCK }]],
    );
    const cli = await exec(process.execPath, [
      'bin/rebound.js',
      '--manager',
      m.apiUrl,
      '--token',
      m.bootstrap!.token,
      'volume',
      'compare',
      'p1/app',
      'p1/copy',
    ]).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => e,
    );
    assert.equal(cli.code, 1, 'exit 1 when they differ');
    assert.match(cli.stdout, /differ in 1 of 1024 blocks/);
    assert.match(cli.stdout, /block 36 \(offset 2359296\)/);

    await admin.createVolume('p1', 'small', 32 * MiB);
    const sizes = await admin.compareVolumes('p1/app', 'p1/small');
    assert.equal(sizes.identical, false);
    assert.match(sizes.why ?? '', /the sizes differ/);
    await assert.rejects(admin.compareVolumes('p1/app', 'p1/nothing'), /node p1 has no volume nothing/);
  });
});
