/**
 * A real S3 server for tests: Ceph's radosgw on a single node on loopback, started by
 * scripts/ceph-rgw.sh on free ports. Without Ceph installed it fails (never skips) and
 * names the packages.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, '../../../scripts/ceph-rgw.sh');
const PACKAGES = 'ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl';

export interface Rgw {
  dir: string;
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  readyAfterS: number;
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as { port: number };
  await new Promise((ok) => srv.close(ok));
  return port;
}

export async function startRgw(): Promise<Rgw> {
  const missing: string[] = [];
  for (const tool of [
    'ceph-mon',
    'ceph-osd',
    'radosgw',
    'radosgw-admin',
    'monmaptool',
    'ceph',
    'uuidgen',
    'curl',
  ]) {
    await run('sh', ['-c', `command -v ${tool}`]).catch(() => missing.push(tool));
  }
  if (missing.length > 0) {
    throw new Error(
      `S3 integration test needs radosgw: ${missing.join(', ')} not found. ` +
        `Install: apt-get install -y --no-install-recommends ${PACKAGES}`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'rebound-rgw-'));
  const port = await freePort();
  let monPort = await freePort();
  while (monPort === port) monPort = await freePort();
  try {
    await run(SCRIPT, ['start', dir, String(port), String(monPort)], { timeout: 75_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    await run(SCRIPT, ['stop', dir]).catch(() => {});
    throw new Error(`scripts/ceph-rgw.sh start failed: ${e.message}\n${e.stderr ?? ''}`);
  }
  const env = Object.fromEntries(
    (await readFile(join(dir, 's3.env'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  return {
    dir,
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION,
    accessKeyId: env.S3_ACCESS_KEY_ID,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY,
    readyAfterS: Number(env.READY_AFTER_S),
  };
}

/** A quota of `maxBytes` on an existing bucket (radosgw-admin, against this server's cluster). */
export async function setBucketQuota(rgw: Rgw, bucket: string, maxBytes: number): Promise<void> {
  const env = { ...process.env, CEPH_CONF: join(rgw.dir, 'ceph.conf') };
  const admin = (args: string[]) => run('radosgw-admin', args, { env, timeout: 30_000 });
  await admin(['quota', 'set', '--quota-scope=bucket', `--bucket=${bucket}`, `--max-size=${maxBytes}`]);
  await admin(['quota', 'enable', '--quota-scope=bucket', `--bucket=${bucket}`]);
}

export async function stopRgw(rgw: Rgw | undefined): Promise<void> {
  if (!rgw) return;
  await run(SCRIPT, ['stop', rgw.dir]).catch(() => {});
  await rm(rgw.dir, { recursive: true, force: true });
}
