/**
 * `npm run bench:backup`: Rebound's backup engine against restic (Debian's `restic`),
 * side by side in one run, on the same volume image, both to a local directory:
 *   1 full backup;
 *   2 incremental after 1% of the volume changed by scattered 4 KiB writes;
 *   3 incremental after a 1% contiguous change;
 *   4 restore of the latest backup (Rebound: into a new volume; restic: into a directory),
 *     both checked byte for byte (sha256) against the source. Two rows: as each tool
 *     returns (Rebound's restore ends flushed, restic's leaves its file in the page
 *     cache), and both durable (restic's restore plus an fsync of the file it wrote:
 *     the like-for-like time until the restored bytes are on disk).
 * Prints wall time, CPU time and bytes each step added to the store (du -sb before/after),
 * and the ratios restic/Rebound (time: how many times faster Rebound is; CPU: how many
 * times less work) and Rebound/restic (bytes), each speedup beside its aim. CPU seconds
 * are printed because the wall-time ratios move with whatever else loads the machine.
 *
 * Content: a deterministic image in 64 KiB regions, half text-like (words, compressible),
 * a quarter random, a quarter zeros. The zero regions are never written: holes in the
 * thin volume and in the sparse raw file restic backs up. Changes are random bytes.
 *
 * Rebound runs in-process, as a node does: NodeStorage pool, DirectoryStore,
 * backupVolume / restoreGeneration. restic runs as its executable (RESTIC_PASSWORD set,
 * cache under the bench directory), backing up the raw image file by path.
 * It runs with UV_THREADPOOL_SIZE=16, as a node is configured (re-running itself when
 * the variable is unset).
 * Caveats: the page cache is not dropped between steps (both sides read warm data; the
 * pool's drive and the image file fit in memory); both stores fsync what they write.
 * Rebound's restore writes the volume with direct I/O (past the page cache), restic's
 * restore writes through the cache: in a VM, cache growing into memory the guest has not
 * touched yet (or has given back) costs several times the CPU of reused memory, so
 * restic's restore time moves with the machine's memory state from run to run.
 *
 * Options: --size 4G (512M for a quick run), --out FILE (JSON results), --dir .bench,
 * --compression CODEC (Rebound's codec: zstd, brotli, deflate, none; default: the writer's),
 * --block-size 64K (the pool's, so a full backup's unit; incrementals store the 4 KiB
 * grains a write changed either way, docs/formats/backup.md "Partial entries").
 */
// First: V8's tiering as a node process has it (bin/rebound.js); this process hosts a node.
import '../src/v8-tuning.js';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import {
  backupVolume,
  type Compression,
  DEFAULT_COMPRESSION,
  restoreGeneration,
  WRITER_CODECS,
} from '../src/backup/index.js';
import { DirectoryStore } from '../src/objectstore/index.js';
import { parseSize } from '../src/units.js';
import { NodeStorage } from '../src/volume/index.js';
import { byteStream, hashDevice, prng } from './seeded.js';

const exec = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '4G' },
    out: { type: 'string' },
    dir: { type: 'string', default: '.bench' },
    compression: { type: 'string' },
    'block-size': { type: 'string', default: '64K' },
  },
});
const blockSizeBytes = parseSize(args['block-size'], '--block-size');
const compression = args.compression as Compression | undefined;
if (compression !== undefined && !WRITER_CODECS.includes(compression))
  throw new Error(`--compression ${compression}: one of ${WRITER_CODECS.join(', ')}`);
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const sizeBytes = Number.parseFloat(args.size) * ({ G: GiB, M: MiB }[args.size.slice(-1).toUpperCase()] ?? 1);
if (!Number.isInteger(sizeBytes) || sizeBytes < 64 * MiB || sizeBytes % (64 * KiB) !== 0)
  throw new Error(`--size ${args.size}: give a multiple of 64 KiB, at least 64M`);
const REGION = 64 * KiB;
const CHUNK = 16 * MiB;
const PAGE = 4 * KiB;

const WORDS = (
  'the of and to in is that it for was on are as with his they at be this from have or by one had ' +
  'not but what all were when we there can an your which their said if do will each about how up out ' +
  'them then she many some so these would other into has more her two like him see time could no make ' +
  'than first been its who now people my made over did down only way find use may water long little ' +
  'very after words called just where most know get through back much before go good new write our used ' +
  'me man too any day same right look think also around another came come work three word must because ' +
  'does part even place well such here take why things help put years different away again off went old ' +
  'number great tell men say small every found still between name should home big give air line set own ' +
  'under read last never us left end along while might next sound below saw something thought both few ' +
  'those always looked show large often together asked house world going want school important until form ' +
  'food keep children feet land side without boy once animals life enough took sometimes four head above ' +
  'kind began almost live page got earth need far hand high year mother light parts country father let ' +
  'night following picture being study second eyes soon times story boys since white days ever paper hard ' +
  'near sentence better best across during today others however sure means knew its try told young miles ' +
  'sun ways thing whole hear example heard several change answer room sea against top turned learn point ' +
  'city play toward five using himself usually'
)
  .split(' ')
  .map((w) => Buffer.from(`${w} `));

/** Fill `out` with words picked by the bytes of `rnd` (a line break every 16 words). */
function fillText(out: Buffer, rnd: Buffer): void {
  let at = 0;
  let i = 0;
  while (at < out.length) {
    const w = WORDS[rnd[i % rnd.length] % WORDS.length];
    i++;
    const n = Math.min(w.length, out.length - at);
    for (let k = 0; k < n; k++) out[at + k] = w[k];
    at += n;
    if ((i & 15) === 0 && at < out.length) out[at - 1] = 0x0a;
  }
}

interface Target {
  /** Write the same bytes to the Rebound volume and the raw image file. */
  write(offset: number, data: Buffer): Promise<void>;
}

/** The image: 64 KiB regions, 1/2 text, 1/4 random, 1/4 zeros (not written). */
async function writeImage(target: Target): Promise<void> {
  const choose = prng(1);
  const bytes = byteStream('image');
  for (let base = 0; base < sizeBytes; base += CHUNK) {
    const len = Math.min(CHUNK, sizeBytes - base);
    const chunk = Buffer.alloc(len);
    const rnd = bytes(len);
    const written: boolean[] = [];
    for (let r = 0; r * REGION < len; r++) {
      const x = choose();
      const region = chunk.subarray(r * REGION, (r + 1) * REGION);
      const src = rnd.subarray(r * REGION, (r + 1) * REGION);
      if (x < 0.5) fillText(region, src);
      else if (x < 0.75) src.copy(region);
      written.push(x < 0.75);
    }
    // Coalesce runs of written regions into writes.
    const writes: Promise<void>[] = [];
    for (let r = 0; r < written.length; ) {
      if (!written[r]) {
        r++;
        continue;
      }
      let e = r;
      while (e < written.length && written[e]) e++;
      writes.push(target.write(base + r * REGION, chunk.subarray(r * REGION, e * REGION)));
      r = e;
    }
    await Promise.all(writes);
  }
}

/** 1% of the image in 4 KiB writes of random bytes at random 4 KiB-aligned offsets. */
async function scatteredChange(target: Target): Promise<{ writes: number; bytes: number }> {
  const pick = prng(2);
  const bytes = byteStream('scattered');
  const writes = Math.floor(sizeBytes / 100 / PAGE);
  const pages = sizeBytes / PAGE;
  const batch: Promise<void>[] = [];
  for (let i = 0; i < writes; i++) {
    batch.push(target.write(Math.floor(pick() * pages) * PAGE, bytes(PAGE)));
    if (batch.length >= 64) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  return { writes, bytes: writes * PAGE };
}

/** 1% of the image as one run of random bytes, 4 KiB-aligned but not block-aligned. */
async function contiguousChange(target: Target): Promise<{ offset: number; bytes: number }> {
  const bytes = byteStream('contiguous');
  const length = Math.floor(sizeBytes / 100 / PAGE) * PAGE;
  const offset = Math.floor((sizeBytes * 0.6) / REGION) * REGION + 3 * PAGE;
  for (let at = 0; at < length; at += 4 * MiB) {
    const n = Math.min(4 * MiB, length - at);
    await target.write(offset + at, bytes(n));
  }
  return { offset, bytes: length };
}

async function du(path: string): Promise<number> {
  const { stdout } = await exec('du', ['-sb', path]);
  return Number(stdout.split('\t')[0]);
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const b of createReadStream(path, { highWaterMark: 4 * MiB })) h.update(b as Buffer);
  return h.digest('hex');
}

/** CPU seconds this process used since `from` (process.cpuUsage covers every thread). */
function cpuSince(from: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

interface Sample {
  seconds: number;
  /**
   * CPU seconds (user + system, all threads; restic's via /usr/bin/time, NaN without it):
   * the work done, which other load on the machine changes far less than wall time.
   */
  cpuSeconds: number;
  /** du -sb of the store after minus before. */
  storedBytes: number;
  /** What the tool reports (Rebound: bytesStored; restic 0.14: data_added, before compression). */
  reportedBytes: number;
  detail?: Record<string, unknown>;
}

type Step =
  | 'full backup'
  | 'incremental 1% scattered 4K'
  | 'incremental 1% contiguous'
  | 'restore latest'
  | 'restore latest, both durable';

function fmtBytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${(n / KiB).toFixed(1)} KiB`;
}

async function main(): Promise<void> {
  const { stdout: version } = await exec('restic', ['version']).catch(() => {
    throw new Error('restic is missing: apt-get install restic');
  });
  const root = resolve(args.dir);
  await mkdir(root, { recursive: true });
  const dir = await mkdtemp(join(root, 'backup-'));
  const storage = await NodeStorage.init(join(dir, 'pool'), {
    drives: [{ sizeBytes: 3 * sizeBytes + GiB }],
    blockSizeBytes,
  });
  const storeDir = join(dir, 'store');
  const store = new DirectoryStore(storeDir);
  const repo = join(dir, 'restic-repo');
  const image = join(dir, 'vol.img');
  const env = { ...process.env, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: join(dir, 'restic-cache') };
  const timeFile = join(dir, 'restic-time');
  const haveTime = await exec('/usr/bin/time', ['-f', '%U', 'true']).then(
    () => true,
    () => false,
  );
  let resticCpu = Number.NaN;
  const restic = async (argv: string[]) => {
    const cmd = ['restic', '-r', repo, ...argv];
    if (!haveTime) return (await exec(cmd[0], cmd.slice(1), { env, maxBuffer: 256 * MiB })).stdout;
    const out = await exec('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, ...cmd], {
      env,
      maxBuffer: 256 * MiB,
    });
    const [user, sys] = (await readFile(timeFile, 'utf8')).trim().split(/\s+/).slice(-2).map(Number);
    resticCpu = user + sys;
    return out.stdout;
  };
  let fh: FileHandle | undefined;
  try {
    console.log(
      `${version.trim()}; image ${fmtBytes(sizeBytes)} in ${dir}; ` +
        `UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE}; Rebound compression ${compression ?? `default (${DEFAULT_COMPRESSION})`}`,
    );
    const volume = 'vol0';
    await storage.createVolume(volume, sizeBytes);
    const dev = storage.hostDevice(volume);
    fh = await open(image, 'w+');
    await fh.truncate(sizeBytes);
    const file = fh;
    const both: Target = {
      async write(offset, data) {
        await Promise.all([
          dev.write(offset, data),
          file.write(data, 0, data.length, offset).then(({ bytesWritten }) => {
            if (bytesWritten !== data.length) throw new Error(`short write to ${image}`);
          }),
        ]);
      },
    };
    const settle = async () => {
      await dev.flush();
      await file.sync();
    };

    let t0 = process.hrtime.bigint();
    await writeImage(both);
    await settle();
    console.log(
      `image written to the volume (pool blocks of ${fmtBytes(blockSizeBytes)}) and ${image} in ${seconds(t0).toFixed(1)} s`,
    );
    await restic(['init']);

    const results: Record<Step, { rebound: Sample; restic: Sample }> = {} as never;
    const reboundBackup = async (method: 'full' | 'incremental'): Promise<Sample> => {
      const before = await du(storeDir).catch(() => 0);
      const cpu = process.cpuUsage();
      const t = process.hrtime.bigint();
      const r = await backupVolume(storage, volume, store, {
        method,
        ...(compression ? { compression } : {}),
      });
      const s = seconds(t);
      const cpuSeconds = cpuSince(cpu);
      if (r.method !== method)
        throw new Error(`Rebound made a ${r.method} backup, not ${method}: ${r.reason}`);
      return {
        seconds: s,
        cpuSeconds,
        storedBytes: (await du(storeDir)) - before,
        reportedBytes: r.bytesStored,
        detail: {
          generationKey: r.generationKey,
          blocks: r.blocks,
          bytesRead: r.bytesRead,
          objects: r.dataObjects,
        },
      };
    };
    const resticBackup = async (): Promise<Sample> => {
      const before = await du(repo);
      const t = process.hrtime.bigint();
      const out = await restic(['backup', '--json', image]);
      const s = seconds(t);
      const cpuSeconds = resticCpu;
      const summary = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .find((m) => m.message_type === 'summary');
      return {
        seconds: s,
        cpuSeconds,
        storedBytes: (await du(repo)) - before,
        reportedBytes: summary?.data_added ?? Number.NaN,
        detail: {
          snapshot: summary?.snapshot_id,
          dataBlobs: summary?.data_blobs,
          resticSeconds: summary?.total_duration,
        },
      };
    };
    const step = async (name: Step, method: 'full' | 'incremental') => {
      console.log(`${name}: rebound...`);
      const rebound = await reboundBackup(method);
      console.log(`${name}: restic...`);
      results[name] = { rebound, restic: await resticBackup() };
    };

    await step('full backup', 'full');
    const sc = await scatteredChange(both);
    await settle();
    console.log(`changed ${sc.writes} x 4 KiB at random offsets (${fmtBytes(sc.bytes)})`);
    await step('incremental 1% scattered 4K', 'incremental');
    const cc = await contiguousChange(both);
    await settle();
    console.log(`changed ${fmtBytes(cc.bytes)} contiguous at offset ${cc.offset}`);
    await step('incremental 1% contiguous', 'incremental');
    const latest = results['incremental 1% contiguous'].rebound.detail?.generationKey as string;

    console.log('restore latest: rebound...');
    const restoreCpu = process.cpuUsage();
    t0 = process.hrtime.bigint();
    const rr = await restoreGeneration(storage, store, latest, { volume: 'restored' });
    await storage.device('restored').flush();
    const reboundRestore: Sample = {
      seconds: seconds(t0),
      cpuSeconds: cpuSince(restoreCpu),
      storedBytes: 0,
      reportedBytes: rr.bytesCopied,
      detail: { chain: rr.chain.length, fetches: rr.fetches, bytesFetched: rr.bytesFetched },
    };
    console.log('restore latest: restic...');
    const target = join(dir, 'restic-restore');
    t0 = process.hrtime.bigint();
    await restic(['restore', 'latest', '--target', target]);
    const resticRestore: Sample = {
      seconds: seconds(t0),
      cpuSeconds: resticCpu,
      storedBytes: 0,
      reportedBytes: Number.NaN,
    };
    // Rebound's restore ends durable (flushed); restic's leaves its file in the page
    // cache. The fsync of that file is timed on its own: the 'both durable' row adds it.
    t0 = process.hrtime.bigint();
    const restored = await open(join(target, image), 'r+');
    try {
      await restored.sync();
    } finally {
      await restored.close();
    }
    const resticSyncSeconds = seconds(t0);
    results['restore latest'] = { rebound: reboundRestore, restic: resticRestore };
    results['restore latest, both durable'] = {
      rebound: reboundRestore,
      restic: {
        ...resticRestore,
        seconds: resticRestore.seconds + resticSyncSeconds,
        detail: { fsyncSeconds: resticSyncSeconds },
      },
    };

    console.log('checking: sha256 of the source file, the source volume and both restores...');
    const [want, source, fromRebound, fromRestic] = await Promise.all([
      hashFile(image),
      hashDevice(storage.device(volume)),
      hashDevice(storage.device('restored')),
      hashFile(join(target, image)),
    ]);
    const bad = [
      source !== want && `the source volume (${source}) differs from the image file (${want})`,
      fromRebound !== want && `Rebound's restore (${fromRebound}) differs from the source (${want})`,
      fromRestic !== want && `restic's restore (${fromRestic}) differs from the source (${want})`,
    ].filter(Boolean);
    if (bad.length > 0) throw new Error(`RESTORE MISMATCH: ${bad.join('; ')}`);
    console.log(`all identical: ${want}`);

    const aims: Record<Step, number> = {
      'full backup': 2,
      'incremental 1% scattered 4K': 20,
      'incremental 1% contiguous': 20,
      'restore latest': 2,
      'restore latest, both durable': 2,
    };
    const rows = (Object.keys(results) as Step[]).map((name) => {
      const { rebound, restic } = results[name];
      const speedup = restic.seconds / rebound.seconds;
      const restore = name.startsWith('restore');
      return {
        step: name,
        'rebound s': rebound.seconds.toFixed(2),
        'restic s': restic.seconds.toFixed(2),
        'speedup (restic/rebound)': `${speedup.toFixed(1)}x`,
        aim: `>= ${aims[name]}x ${speedup >= aims[name] ? 'met' : 'MISSED'}`,
        'rebound cpu s': rebound.cpuSeconds.toFixed(2),
        'restic cpu s': Number.isNaN(restic.cpuSeconds) ? '-' : restic.cpuSeconds.toFixed(2),
        'cpu (restic/rebound)': Number.isNaN(restic.cpuSeconds)
          ? '-'
          : `${(restic.cpuSeconds / rebound.cpuSeconds).toFixed(1)}x`,
        'rebound stored': restore ? '-' : fmtBytes(rebound.storedBytes),
        'restic stored': restore ? '-' : fmtBytes(restic.storedBytes),
        'stored (rebound/restic)': restore
          ? '-'
          : `${(rebound.storedBytes / restic.storedBytes).toFixed(2)}x`,
      };
    });
    console.table(rows);
    console.log(
      `restic's fsync of its restored file took ${resticSyncSeconds.toFixed(2)} s ` +
        `(in the 'both durable' row; Rebound's restore is flushed before it returns)`,
    );
    console.log(
      `store sizes: rebound ${fmtBytes(await du(storeDir))}, restic ${fmtBytes(await du(repo))}; ` +
        `page cache not dropped (warm reads on both sides)`,
    );
    if (args.out)
      await writeFile(
        args.out,
        JSON.stringify({ sizeBytes, blockSizeBytes, restic: version.trim(), sha256: want, results }, null, 2),
      );
  } finally {
    await fh?.close().catch(() => {});
    await store.close().catch(() => {});
    await storage.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.env.UV_THREADPOOL_SIZE === undefined) {
  // A node runs its drive and directory-store I/O on 16 libuv threads
  // (docs/architecture.md). The pool is already started with 4 when this module runs,
  // so run again with the variable set (with 4, a directory store's fsyncs hold every
  // thread and the snapshot reads wait behind them).
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
