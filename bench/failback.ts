/**
 * `npm run bench:failback`: the failback methods side by side in one run, on the same
 * volume: a volume full of data, failed over, 1% of it changed at the secondary by
 * scattered 4 KiB writes, then failed back by
 *   - remote copy (S401-S408): a pair copies the changed blocks and ships its journal;
 *   - the object store (S801-S906): generation N+1 of the changes, applied on the primary;
 *   - an external volume (S701-S710): the primary's volume attached at the secondary over
 *     NBD, the changed blocks copied into it there;
 *   - a forced full copy: a remote-copy failback onto a primary volume with another
 *     unique ID (deleted and created again), which copies every block (S505).
 * Each method gets its own failover (and a backup before it), so each starts from the
 * same state: the primary at the base generation, the secondary 1% changed. After each
 * failback the snapshot its failover kept on the primary is deleted and the overlays it
 * leaves are folded, so every failover's snapshot finds plain blocks, as the first does.
 *
 * Real parts: a manager (in-process, as `rebound manager run` would be), the primary node
 * (in-process, the tests' node fixture), the secondary built by the local site provider
 * as a `rebound node` process, a directory object store; the 4 KiB writes go through the
 * NBD client to the secondary's export, as a host's would.
 *
 * Measured per method: the failback job's time (started to ended, from the job record),
 * its copy phase alone (from its log: the first data-moving step started to the last one
 * done), and the bytes it moved (the job's result). "Changed bytes" = the 4 KiB grains
 * written in the blocks of the secondary's since-failover bitmap (dr status's
 * changedBytes: a node tracks grains in blocks of 64 KiB; with 4 KiB blocks, the blocks).
 * Aims (the issue):
 * bytes moved <= 1.05x the changed bytes, time <= 3% of the full copy's. Every failback is
 * checked: the primary volume's sha256 must equal the secondary's before the failback (the
 * base the failover restored with the change over it, hashed before the failover).
 * The machine's load average is printed, and how long memory and I/O stalls held every task
 * during each failback (Linux PSI): other work changes the times, not the bytes.
 *
 * Each failback verifies as a user's would by default: a delta compares its changed blocks,
 * the full copy every block; `--verify full` makes every method compare every block.
 *
 * Options: --size 8G (512M for a quick run), --cold (drop the page cache before each
 * failback, as root: what it moves is read from the disks), --block-size 64K (both pools'; their update
 * bitmaps track 4 KiB grains either way), --verify changed|full, --out FILE (JSON results), --methods
 * remote-copy,object-store,external,full (a subset, to measure one method; the time ratios
 * need `full`), --repeat N (each delta N times, each time after a failover of its own;
 * the table gives each method's median run by job time, the lower middle one for an
 * even N, and the range; the full copy runs once: runs of the same code here differ by
 * about 10% with the machine's load).
 */
// First: V8's tiering as a node process has it (bin/rebound.js); this process hosts a node.
import '../src/v8-tuning.js';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BlockDevice } from '../src/block/index.js';
import type { JobView } from '../src/manager/index.js';
import { ManagerClient, type RunningManager, sites, startManager } from '../src/manager/index.js';
import { connectNbd } from '../src/nbd/client/index.js';
import { parseSize } from '../src/units.js';
import type { NodeStorage } from '../src/volume/index.js';
import { type NodeFixture, startTestNode } from '../test/helpers/node-fixture.js';
import { byteStream, hashDevice, prng } from './seeded.js';

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '8G' },
    'block-size': { type: 'string', default: '64K' },
    cold: { type: 'boolean', default: false },
    verify: { type: 'string', default: 'changed' },
    out: { type: 'string' },
    methods: { type: 'string', default: 'remote-copy,object-store,external,full' },
    repeat: { type: 'string', default: '1' },
  },
});
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const sizeBytes = Number.parseFloat(args.size) * ({ G: GiB, M: MiB }[args.size.slice(-1).toUpperCase()] ?? 1);
if (!Number.isInteger(sizeBytes) || sizeBytes < 64 * MiB || sizeBytes % (64 * KiB) !== 0)
  throw new Error(`--size ${args.size}: give a multiple of 64 KiB, at least 64M`);
if (args.verify !== 'changed' && args.verify !== 'full')
  throw new Error(`--verify ${args.verify}: changed or full`);
const verify = args.verify;
const repeat = Number(args.repeat);
if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20)
  throw new Error(`--repeat ${args.repeat}: 1 to 20`);
const chosen = args.methods.split(',');
for (const k of chosen) {
  if (!['remote-copy', 'object-store', 'external', 'full'].includes(k))
    throw new Error(`--methods: ${k} is not one of remote-copy, object-store, external, full`);
}
const CHUNK = 16 * MiB;
const PAGE = 4 * KiB;
const VOLUME = 'vol';
const JOB_TIMEOUT_MS = 6 * 3600_000;

interface Method {
  /** The row's name. */
  name: string;
  /** Its name in --methods. */
  key: string;
  method: 'remote-copy' | 'object-store' | 'external';
  /** Give the primary volume a new unique ID first: the failback must copy everything. */
  forceFull: boolean;
  /** The job log steps that move data (a premark runs inside the first): the first one's start to the last one's end. */
  copySteps: [string, string];
}

const FULL_COPY = 'full copy (remote copy, new ID)';
const METHODS: Method[] = [
  {
    name: 'remote copy',
    key: 'remote-copy',
    method: 'remote-copy',
    forceFull: false,
    copySteps: ['pair', 'release'],
  },
  {
    name: 'object store',
    key: 'object-store',
    method: 'object-store',
    forceFull: false,
    copySteps: ['n.start', 'back.task'],
  },
  {
    name: 'external volume',
    key: 'external',
    method: 'external',
    forceFull: false,
    copySteps: ['attach', 'detach'],
  },
  { name: FULL_COPY, key: 'full', method: 'remote-copy', forceFull: true, copySteps: ['pair', 'release'] },
];

/** Every byte of the device written with random data (so every block is allocated). */
async function fill(dev: BlockDevice): Promise<void> {
  const bytes = byteStream('image');
  const inFlight: Promise<void>[] = [];
  for (let at = 0; at < sizeBytes; at += CHUNK) {
    inFlight.push(dev.write(at, bytes(Math.min(CHUNK, sizeBytes - at))));
    if (inFlight.length >= 4) await inFlight.shift();
  }
  await Promise.all(inFlight);
  await dev.flush();
}

/**
 * 1% of the volume as 4 KiB of random bytes at each of that many distinct random 4 KiB-aligned
 * offsets (page -> bytes), made before it is written: the bench knows what the secondary
 * will hold without reading it (hashDevice with the change).
 */
function planChange(seed: number): Map<number, Buffer> {
  const pick = prng(seed);
  const bytes = byteStream(`scattered-${seed}`);
  const writes = Math.floor(sizeBytes / 100 / PAGE);
  const pages = sizeBytes / PAGE;
  const change = new Map<number, Buffer>();
  while (change.size < writes) {
    const page = Math.floor(pick() * pages);
    if (!change.has(page)) change.set(page, bytes(PAGE));
  }
  return change;
}

/** The planned change written to the device, 64 writes in flight (distinct pages: no order among them matters). */
async function writeChange(dev: BlockDevice, change: Map<number, Buffer>): Promise<void> {
  const batch: Promise<void>[] = [];
  for (const [page, data] of change) {
    batch.push(dev.write(page * PAGE, data));
    if (batch.length >= 64) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  await dev.flush();
}

/** Delete every snapshot of the primary's volume (the one its failover kept, S302). */
async function deleteSnapshots(primary: NodeFixture): Promise<void> {
  for (const s of await primary.client.listSnapshots(VOLUME))
    await primary.client.deleteSnapshot(VOLUME, s.name);
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function fmtBytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${(n / KiB).toFixed(1)} KiB`;
}

function load(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

/**
 * Linux's pressure stall information (PSI): the share of the last 10 s in which every
 * task waited for memory, and for I/O: whether the machine, not the code, held a run
 * back. In one run on the VM this bench was written on, memory stalls held every task
 * for 50-88% of 10 s windows (page cache reclaim), and its failovers, folds and
 * failbacks were the slowest of that day; in the next, 1-6% through the failbacks.
 */
function stalls(): string {
  const full = (what: string) => {
    try {
      return /full avg10=([\d.]+)/.exec(readFileSync(`/proc/pressure/${what}`, 'utf8'))?.[1];
    } catch {
      return undefined; // no PSI here (not Linux, or a kernel without it)
    }
  };
  const memory = full('memory');
  return memory === undefined
    ? ''
    : `; all tasks stalled on memory ${memory}%, on I/O ${full('io')}% of the last 10 s`;
}

/**
 * --cold: the kernel's page cache dropped (clean pages; `sync` first writes the dirty
 * ones), so the failback reads what it moves from the disks, as after a failover that
 * lasted long enough for the changed blocks to leave the cache. Needs root.
 */
function dropPageCache(): void {
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '1\n');
  } catch (err) {
    throw new Error(`--cold: cannot drop the page cache (${(err as Error).message}); run as root`);
  }
}

/** Wait for a job and fail loudly unless it succeeded. */
async function finished(admin: ManagerClient, job: JobView): Promise<JobView> {
  const end = await admin.waitJob(job.id, { intervalMs: 100, timeoutMs: JOB_TIMEOUT_MS });
  if (end.state !== 'succeeded')
    throw new Error(`${end.kind} job ${end.id} ${end.state}: ${JSON.stringify(end.error)}`);
  return end;
}

/** Seconds between the first step's start and the last step's end, from the job log. */
function phaseSeconds(job: JobView, [first, last]: [string, string]): number {
  const log = job.log ?? [];
  const start = log.find((l) => l.step === first && l.status === 'started');
  const end = log.findLast((l) => l.step === last && l.status === 'done');
  if (!start || !end) throw new Error(`job ${job.id} has no ${first} start or ${last} end in its log`);
  return (Date.parse(end.at) - Date.parse(start.at)) / 1000;
}

/** Each step's seconds (started to done), from the job log: where the time went. */
function stepSeconds(job: JobView): Record<string, number> {
  const out: Record<string, number> = {};
  const started = new Map<string, number>();
  for (const l of job.log ?? []) {
    if (l.status === 'started') started.set(l.step, Date.parse(l.at));
    else if (l.status === 'done' && started.has(l.step))
      out[l.step] = (Date.parse(l.at) - started.get(l.step)!) / 1000;
  }
  return out;
}

interface Sample {
  method: string;
  changedBlocks: number;
  blockSizeBytes: number;
  changedBytes: number;
  bytesMoved: number;
  delta: boolean;
  jobSeconds: number;
  copySeconds: number;
  failoverSeconds: number;
  writes: number;
  sha256: string;
  result: Record<string, unknown>;
  steps: Record<string, number>;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rebound-bench-failback-'));
  let primary: NodeFixture | undefined;
  let m: RunningManager | undefined;
  const samples: Sample[] = [];
  const loadAtStart = load();
  try {
    primary = await startTestNode({
      poolSizeBytes: 3 * sizeBytes + 2 * GiB,
      init: { blockSize: args['block-size'] },
    });
    m = await startManager(
      join(dir, 'manager'),
      { apiPort: 0, secretKey: 'bc'.repeat(32) },
      { jobPollMs: 50 },
    );
    const admin = new ManagerClient(m.apiUrl, m.bootstrap!.token);
    await admin.addSite({ name: 'dc1', role: 'primary' });
    await admin.registerNode({
      name: 'p1',
      site: 'dc1',
      url: primary.node.apiUrl,
      token: primary.node.token,
    });
    await admin.addStore({ name: 'local', provider: 'directory', path: join(dir, 'store') });
    const created = await admin.createVolume('p1', VOLUME, sizeBytes);
    const lineage = created.uniqueId;
    console.log(
      `volume ${fmtBytes(sizeBytes)}; ${cpus().length} cores, load average ${loadAtStart}; ` +
        `UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE}; data under ${dir} and ${primary.dataDir}`,
    );

    let t0 = process.hrtime.bigint();
    await fill(primary.node.storage.hostDevice(VOLUME));
    console.log(`volume filled with random data in ${seconds(t0).toFixed(1)} s`);

    let rounds = 0;
    // --repeat: each pass runs every chosen delta once, in the same order, so a drift of
    // the machine's load spreads over all of them; the full copy runs once, last (it gives
    // the primary volume another unique ID, which later backups would have to follow).
    const deltas = METHODS.filter((x) => !x.forceFull && chosen.includes(x.key));
    const fulls = METHODS.filter((x) => x.forceFull && chosen.includes(x.key));
    const runs = [...Array.from({ length: repeat }, () => deltas).flat(), ...fulls];
    for (const [round, method] of runs.entries()) {
      // The primary sits at its newest backup: the failover's consistency assurance moves nothing.
      t0 = process.hrtime.bigint();
      await finished(
        admin,
        await admin.backup({
          volume: lineage,
          store: 'local',
          method: rounds++ === 0 ? 'full' : 'incremental',
        }),
      );
      // What the secondary will hold: the base the failover restores (the primary, which
      // sits at it) with this pass's change over it. Hashed here, before the failover,
      // rather than by reading the secondary after the change: a read of the whole volume
      // there, seconds before the failback, would evict part of what the failback reads
      // and leave the kernel reclaiming memory while it is timed.
      const backupSeconds = seconds(t0);
      const change = planChange(round + 2);
      const sha256 = await hashDevice(primary.node.storage.device(VOLUME), change);
      console.log(`${method.name}: backup in ${backupSeconds.toFixed(1)} s; failover...`);
      t0 = process.hrtime.bigint();
      await finished(
        admin,
        await admin.failover({
          site: 'dr',
          store: 'local',
          volumes: [lineage],
          // The secondary's pool has the primary's block size (the grain of its bitmaps).
          provider: { type: 'local', blockSizeBytes: parseSize(args['block-size'], '--block-size') },
        }),
      );
      const failoverSeconds = seconds(t0);

      const dr = (await admin.drStatus()).find((d) => d.lineage === lineage);
      if (!dr?.secondaryNbdUri) throw new Error('dr status gives no NBD URI for the secondary volume');
      const uri = new URL(dr.secondaryNbdUri);
      const host = await connectNbd({ host: uri.hostname, port: Number(uri.port), exportName: VOLUME });
      const writes = change.size;
      try {
        t0 = process.hrtime.bigint();
        await writeChange(host, change);
        console.log(
          `${method.name}: failover in ${failoverSeconds.toFixed(1)} s; ${writes} x 4 KiB written at the secondary in ${seconds(t0).toFixed(1)} s`,
        );
      } finally {
        await host.close();
      }
      const after = (await admin.drStatus()).find((d) => d.lineage === lineage)!;
      const secondary = (await admin.listVolumes({ node: after.secondaryNode ?? '' })).find(
        (v) => v.name === VOLUME,
      );
      if (!secondary) throw new Error('the secondary volume is not in the registry');

      if (method.forceFull) {
        // A new volume under the old name: its unique ID differs from the lineage (S505).
        await deleteSnapshots(primary);
        await primary.client.deleteVolume(VOLUME);
        await primary.client.createVolume(VOLUME, sizeBytes);
        await primary.client.fence(VOLUME);
      }

      if (args.cold) dropPageCache();
      console.log(`${method.name}: failback...`);
      // By the secondary's unique ID: after a forced new ID the name is held by two lineages.
      const fb = await finished(
        admin,
        await admin.failback({ volume: secondary.uniqueId, method: method.method, verify }),
      );
      const result = fb.result as { bytesMoved: number; delta: boolean };
      const params = fb.params as { changedBlocks: number; blockSizeBytes: number; changedBytes?: number };
      const stalled = stalls(); // over the failback, before the hash and the fold below
      const got = await hashDevice(primary.node.storage.device(VOLUME));
      if (got !== sha256)
        throw new Error(
          `${method.name}: the primary (${got}) differs from what the secondary held (${sha256})`,
        );
      if (result.delta === method.forceFull)
        throw new Error(`${method.name}: the failback was ${result.delta ? 'a delta' : 'a full copy'}`);
      // The failover's kept snapshot (S302) goes, as an operator deletes it once nothing of
      // the drift in it is wanted, and the overlays it leaves fold back into plain blocks
      // (VolumeIo.foldOverlays) before the next pass: each pass starts from a primary like
      // the first one's, plain blocks under one fresh snapshot. Kept, the next failover's
      // snapshot would share this failback's overlays, and a write into a shared overlay
      // copies its whole block.
      t0 = process.hrtime.bigint();
      await deleteSnapshots(primary);
      await (primary.node.storage as NodeStorage).whenFolded();
      const foldSeconds = seconds(t0);
      // What the primary's sparse drive file holds on the disk (pool/allocator.ts: freed
      // blocks go out again before holes, so it grows only with what the pool needs).
      const driveBytes = primary.node.storage.pool().diskBytes;
      const sample: Sample = {
        method: method.name,
        changedBlocks: params.changedBlocks,
        blockSizeBytes: params.blockSizeBytes,
        // The grains written in the changed blocks (4 KiB of a 64 KiB block), where the
        // node tracks them: what a delta has to move.
        changedBytes: params.changedBytes ?? params.changedBlocks * params.blockSizeBytes,
        bytesMoved: result.bytesMoved,
        delta: result.delta,
        jobSeconds: (Date.parse(fb.endedAt!) - Date.parse(fb.startedAt!)) / 1000,
        copySeconds: phaseSeconds(fb, method.copySteps),
        failoverSeconds,
        writes,
        sha256,
        result: fb.result!,
        steps: stepSeconds(fb),
      };
      samples.push(sample);
      console.log(
        `${method.name}: failback in ${sample.jobSeconds.toFixed(1)} s (copy ${sample.copySeconds.toFixed(1)} s), ` +
          `${fmtBytes(sample.bytesMoved)} moved for ${sample.changedBlocks} changed blocks; primary = secondary (${sha256.slice(0, 12)}); ` +
          `the kept snapshot deleted, its overlays folded in ${foldSeconds.toFixed(1)} s; ` +
          `the primary's drive file holds ${fmtBytes(driveBytes)}; load ${load()}${stalled}`,
      );
      console.log(
        `  steps (s): ${Object.entries(sample.steps)
          .map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join(', ')}`,
      );
    }

    // One row per method: its median run by job time (the lower middle one for an even
    // count; with --repeat 1, its only run).
    const medians = [...new Set(samples.map((s) => s.method))].map((name) => {
      const mine = samples.filter((s) => s.method === name).sort((a, b) => a.jobSeconds - b.jobSeconds);
      return { s: mine[Math.floor((mine.length - 1) / 2)], all: mine };
    });
    const full = medians.find((x) => x.s.method === FULL_COPY)?.s;
    console.table(
      medians.map(({ s, all }) => {
        const bytesRatio = s.bytesMoved / s.changedBytes;
        const timeRatio = full ? s.jobSeconds / full.jobSeconds : Number.NaN;
        const copyRatio = full ? s.copySeconds / full.copySeconds : Number.NaN;
        const isFull = !full || s === full;
        return {
          method: s.method,
          'changed blocks': s.changedBlocks,
          changed: fmtBytes(s.changedBytes),
          'of volume': `${((s.changedBytes / sizeBytes) * 100).toFixed(1)}%`,
          moved: fmtBytes(s.bytesMoved),
          'moved/changed': `${bytesRatio.toFixed(3)}x`,
          'aim <= 1.05x': isFull ? '-' : bytesRatio <= 1.05 ? 'met' : 'MISSED',
          runs: all.length,
          'job s': s.jobSeconds.toFixed(2),
          ...(all.length > 1 && {
            'job s range': `${all[0].jobSeconds.toFixed(2)}-${all[all.length - 1].jobSeconds.toFixed(2)}`,
          }),
          'copy s': s.copySeconds.toFixed(2),
          'verify s': (s.steps.verify ?? 0).toFixed(2),
          'job/full': isFull ? '-' : `${(timeRatio * 100).toFixed(1)}%`,
          'copy/full': isFull ? '-' : `${(copyRatio * 100).toFixed(1)}%`,
          'aim <= 3%': isFull ? '-' : timeRatio <= 0.03 ? 'met' : 'MISSED',
        };
      }),
    );
    const writes = samples[0]?.writes ?? 0;
    console.log(
      `1% changed = ${writes} x 4 KiB = ${fmtBytes(writes * PAGE)} written at the secondary; ` +
        `the 4 KiB grains those writes touch in the changed blocks (block ${fmtBytes(samples[0]?.blockSizeBytes ?? 0)}) are the changed bytes, ` +
        `so a delta moving them at the full copy's rate takes that share ("of volume") of its time. ` +
        `Load average at start ${loadAtStart}, at end ${load()} (${cpus().length} cores).`,
    );
    if (args.out)
      await writeFile(
        args.out,
        JSON.stringify({ sizeBytes, cores: cpus().length, loadAtStart, loadAtEnd: load(), samples }, null, 2),
      );
  } finally {
    await sites
      .openSiteProvider({ type: 'local' }, { dataDir: join(dir, 'manager') })
      .teardown({ name: 'dr' }, { purge: true })
      .catch(() => undefined);
    await m?.close();
    await primary?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.env.UV_THREADPOOL_SIZE === undefined) {
  // As bench/backup.ts: the in-process primary wants 16 libuv threads, set before start.
  const again = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, UV_THREADPOOL_SIZE: '16' },
  });
  process.exitCode = again.status ?? 1;
} else {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
