/**
 * `npm run bench`: the storage node against its peers, side by side in one run, on the
 * same machine: qemu-nbd and nbdkit's file plugin each serving a raw file, and a
 * Rebound node serving a volume of its pool. Clients are the real ones:
 *   - sequential 1 MiB: nbdcopy from a page-cached random file into the export (write)
 *     and from the export to null: (read);
 *   - random 4 KiB: fio's nbd engine, randread and randwrite at queue depth 1 and 32.
 * Prints each figure and the ratios Rebound/qemu-nbd and Rebound/nbdkit.
 *
 * Options: --size 2G (export size), --runtime 10 (seconds per fio run), --runs 1
 * (median of N), --out FILE (JSON results). Needs qemu-utils, libnbd-bin, fio, nbdkit.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';

const exec = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '2G' },
    runtime: { type: 'string', default: '10' },
    runs: { type: 'string', default: '1' },
    out: { type: 'string' },
    dir: { type: 'string', default: '.bench' },
  },
});
const GiB = 2 ** 30;
const sizeBytes =
  Number.parseFloat(args.size) * ({ G: GiB, M: 2 ** 20 }[args.size.slice(-1).toUpperCase()] ?? 1);
const runtime = Number(args.runtime);
const runs = Number(args.runs);
const dir = resolve(args.dir);
const repo = resolve(import.meta.dirname, '../..');

interface Server {
  name: string;
  uri: string;
  stop(): Promise<void>;
}

function waitForPort(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((done, fail) => {
    const tryOnce = () => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        done();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) fail(new Error(`port ${port} never opened`));
        else setTimeout(tryOnce, 100);
      });
    };
    tryOnce();
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((done) => {
      if (child.exitCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGTERM');
    });
}

async function sparse(path: string): Promise<void> {
  await rm(path, { force: true });
  await exec('truncate', ['-s', String(sizeBytes), path]);
}

async function startQemuNbd(port: number): Promise<Server> {
  const file = join(dir, 'qemu-nbd.img');
  await sparse(file);
  const child = spawn(
    'qemu-nbd',
    [
      '-f',
      'raw',
      '-x',
      'vol0',
      '-b',
      '127.0.0.1',
      '-p',
      String(port),
      '--persistent',
      '--shared=16',
      '--cache=writeback',
      '--aio=threads',
      '--discard=unmap',
      file,
    ],
    { stdio: 'ignore' },
  );
  await waitForPort(port);
  return { name: 'qemu-nbd', uri: `nbd://127.0.0.1:${port}/vol0`, stop: stopper(child) };
}

async function startNbdkit(port: number): Promise<Server> {
  const file = join(dir, 'nbdkit.img');
  await sparse(file);
  const child = spawn('nbdkit', ['-f', '-i', '127.0.0.1', '-p', String(port), 'file', file], {
    stdio: 'ignore',
  });
  await waitForPort(port);
  return { name: 'nbdkit-file', uri: `nbd://127.0.0.1:${port}/`, stop: stopper(child) };
}

async function startRebound(port: number, apiPort: number): Promise<Server> {
  const data = join(dir, 'rebound');
  await rm(data, { recursive: true, force: true });
  const bin = join(repo, 'bin/rebound.js');
  await exec('node', [
    bin,
    'node',
    'init',
    '--data-dir',
    data,
    '--drive',
    `${join(data, 'drive0.img')}:${sizeBytes + GiB}`,
    '--api-listen',
    `127.0.0.1:${apiPort}`,
    '--nbd-listen',
    `127.0.0.1:${port}`,
  ]);
  const child = spawn('node', [bin, 'node', 'run', '--data-dir', data], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, REBOUND_LOG_LEVEL: 'warn' },
  });
  await waitForPort(apiPort);
  await exec('node', [
    bin,
    '--data-dir',
    data,
    'node',
    'volume',
    'create',
    'vol0',
    '--size',
    String(sizeBytes),
  ]);
  return { name: 'rebound', uri: `nbd://127.0.0.1:${port}/vol0`, stop: stopper(child) };
}

async function timed(cmd: string, argv: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  await exec(cmd, argv, { maxBuffer: 64 * 2 ** 20 });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function fio(uri: string, rw: 'randread' | 'randwrite', depth: number): Promise<number> {
  const { stdout } = await exec(
    'fio',
    [
      '--name=j',
      '--ioengine=nbd',
      `--uri=${uri}`,
      `--rw=${rw}`,
      '--bs=4k',
      `--iodepth=${depth}`,
      `--size=${sizeBytes}`,
      `--runtime=${runtime}`,
      '--time_based',
      '--output-format=json',
    ],
    { maxBuffer: 64 * 2 ** 20 },
  );
  const job = JSON.parse(stdout.slice(stdout.indexOf('{'))).jobs[0];
  return rw === 'randread' ? job.read.iops : job.write.iops;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

type Metric =
  | 'seq write MiB/s'
  | 'seq read MiB/s'
  | 'randread QD1 IOPS'
  | 'randread QD32 IOPS'
  | 'randwrite QD1 IOPS'
  | 'randwrite QD32 IOPS';

async function measure(server: Server, source: string): Promise<Record<Metric, number>> {
  const mib = sizeBytes / 2 ** 20;
  const samples: Record<Metric, number[]> = {
    'seq write MiB/s': [],
    'seq read MiB/s': [],
    'randread QD1 IOPS': [],
    'randread QD32 IOPS': [],
    'randwrite QD1 IOPS': [],
    'randwrite QD32 IOPS': [],
  };
  for (let r = 0; r < runs; r++) {
    samples['seq write MiB/s'].push(mib / (await timed('nbdcopy', [source, server.uri])));
    samples['seq read MiB/s'].push(mib / (await timed('nbdcopy', [server.uri, 'null:'])));
    samples['randwrite QD32 IOPS'].push(await fio(server.uri, 'randwrite', 32));
    samples['randwrite QD1 IOPS'].push(await fio(server.uri, 'randwrite', 1));
    samples['randread QD32 IOPS'].push(await fio(server.uri, 'randread', 32));
    samples['randread QD1 IOPS'].push(await fio(server.uri, 'randread', 1));
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)])) as Record<
    Metric,
    number
  >;
}

async function main(): Promise<void> {
  for (const tool of ['qemu-nbd', 'nbdkit', 'nbdcopy', 'fio']) {
    await exec('which', [tool]).catch(() => {
      throw new Error(`${tool} is missing: apt-get install qemu-utils nbdkit libnbd-bin fio`);
    });
  }
  await mkdir(dir, { recursive: true });
  const source = join(dir, 'source.img');
  console.log(
    `export size ${args.size}, fio runtime ${runtime}s, median of ${runs}; preparing a random source file...`,
  );
  await exec('sh', ['-c', `head -c ${sizeBytes} /dev/urandom > ${source} && cat ${source} > /dev/null`]);

  const results: Record<string, Record<Metric, number>> = {};
  const starters: [string, () => Promise<Server>][] = [
    ['qemu-nbd', () => startQemuNbd(10901)],
    ['nbdkit-file', () => startNbdkit(10902)],
    ['rebound', () => startRebound(10903, 10904)],
  ];
  for (const [name, start] of starters) {
    const server = await start();
    try {
      console.log(`measuring ${name} (${server.uri})...`);
      results[name] = await measure(server, source);
    } finally {
      await server.stop();
    }
  }

  const metrics = Object.keys(results.rebound) as Metric[];
  const rows = metrics.map((m) => {
    const q = results['qemu-nbd'][m];
    const k = results['nbdkit-file'][m];
    const r = results.rebound[m];
    return {
      metric: m,
      'qemu-nbd': q.toFixed(0),
      'nbdkit-file': k.toFixed(0),
      rebound: r.toFixed(0),
      'vs qemu-nbd': `${(r / q).toFixed(2)}x`,
      'vs nbdkit': `${(r / k).toFixed(2)}x`,
    };
  });
  console.table(rows);
  if (args.out) await writeFile(args.out, JSON.stringify({ sizeBytes, runtime, runs, results }, null, 2));
  await rm(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
