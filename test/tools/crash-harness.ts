/**
 * The crash loop (used by crash-loop.ts and test/integration/crash.test.ts).
 *
 * Each cycle starts crash-worker.js on the storage, lets it run for a random time,
 * kills it with SIGKILL, reopens the storage and checks the promises of DESIGN.md:
 *   1. every write made durable (completed before a flush that resolved, or FUA) reads
 *      back, unless a later write/zero/trim of the same region replaced it;
 *   2. every region reads as zeros or as one of the writes this test issued to exactly
 *      that volume and region, never another volume's, a stale or a torn block;
 *   3. the union of each volume's bitmaps covers every block changed since they were
 *      cleared: blocks whose contents differ from the last check, and blocks of ops
 *      reported durable (over-reporting is allowed, under-reporting is not). Ops
 *      reported issued but killed before they ran may have marked nothing, rightly.
 * A region's candidates are its last durable value plus every op issued after it (ops
 * on one region never overlap, so issue order is landing order).
 */
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeStorage } from '../../src/volume/index.js';
import {
  BLOCK_BYTES,
  decodeRegion,
  type IssuedOp,
  POOL_BYTES,
  REGION_BYTES,
  REGIONS,
  VOLUME_BYTES,
  VOLUMES,
  type WorkerMessage,
} from './crash-common.js';

interface Entry {
  id: number;
  version: number;
}

export interface CrashLoopOptions {
  cycles: number;
  /** Kill after a random time in [minMs, maxMs) from the worker's "ready". */
  minMs?: number;
  maxMs?: number;
  dir?: string;
  log?: (line: string) => void;
}

export interface CrashLoopResult {
  cycles: number;
  violations: string[];
  opsIssued: number;
  opsDurable: number;
}

const WORKER = fileURLToPath(new URL('./crash-worker.js', import.meta.url));

export async function runCrashLoop(options: CrashLoopOptions): Promise<CrashLoopResult> {
  const log = options.log ?? (() => {});
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'rebound-crash-')));
  const minMs = options.minMs ?? 200;
  const maxMs = options.maxMs ?? 1500;
  const storage = await NodeStorage.init(dir, {
    drives: [{ sizeBytes: POOL_BYTES }],
    blockSizeBytes: BLOCK_BYTES,
  });
  for (const v of VOLUMES) {
    await storage.createVolume(v, VOLUME_BYTES);
    await storage.createBitmap(v, 'since');
    await storage.freezeBitmap(v, 'since', 'fixed');
  }
  await storage.close();

  // Per volume, per region: history since the last durable entry (index 0 is durable).
  const hist: Entry[][][] = VOLUMES.map(() => Array.from({ length: REGIONS }, () => [{ id: 0, version: 0 }]));
  /** Blocks of ops known to have run (durable) since the bitmaps were last cleared. */
  const touchedBlocks = VOLUMES.map(() => new Set<number>());
  /** What each region held at the last check. */
  const base = VOLUMES.map(() => new Array<number>(REGIONS).fill(0));
  const opsById = new Map<number, IssuedOp>();
  const violations: string[] = [];
  let opsIssued = 0;
  let opsDurable = 0;

  for (let cycle = 1; cycle <= options.cycles && violations.length === 0; cycle++) {
    const child = fork(WORKER, [dir, String(cycle * 10_000_000)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let workerError: string | null = null;
    let ready!: () => void;
    const readyP = new Promise<void>((r) => {
      ready = r;
    });
    child.on('message', (m: WorkerMessage) => {
      if (m.kind === 'ready') ready();
      else if (m.kind === 'error') workerError = m.message;
      else if (m.kind === 'issue') {
        for (const op of m.ops) {
          opsIssued++;
          opsById.set(op.id, op);
          const vi = op.volume - 1;
          for (const r of op.regions) {
            hist[vi][r.region].push({ id: op.id, version: r.version });
          }
        }
      } else if (m.kind === 'durable') {
        for (const id of m.ids) {
          const op = opsById.get(id);
          if (!op) continue;
          opsDurable++;
          for (const r of op.regions) {
            const h = hist[op.volume - 1][r.region];
            touchedBlocks[op.volume - 1].add(Math.floor((r.region * REGION_BYTES) / BLOCK_BYTES));
            const at = h.findIndex((e) => e.id === id);
            if (at > 0) h.splice(0, at); // this entry is now the durable base
          }
        }
      }
    });
    const exited = new Promise<void>((r) => {
      let n = 0;
      const done = () => {
        if (++n === 2) r();
      };
      child.on('exit', done);
      child.on('disconnect', done);
    });
    await Promise.race([readyP, exited]);
    const runMs = minMs + Math.floor(Math.random() * (maxMs - minMs));
    await new Promise((r) => setTimeout(r, runMs));
    child.kill('SIGKILL');
    await exited;
    if (workerError) {
      violations.push(`cycle ${cycle}: worker failed: ${workerError}`);
      break;
    }

    // Reopen and check.
    let s: NodeStorage;
    try {
      s = await NodeStorage.open(dir);
    } catch (err) {
      violations.push(`cycle ${cycle}: storage does not open after the crash: ${(err as Error).message}`);
      break;
    }
    try {
      for (let vi = 0; vi < VOLUMES.length; vi++) {
        const name = VOLUMES[vi];
        const img = await s.device(name).read(0, VOLUME_BYTES);
        for (let r = 0; r < REGIONS; r++) {
          const got = decodeRegion(img.subarray(r * REGION_BYTES, (r + 1) * REGION_BYTES), vi + 1, r);
          const h = hist[vi][r];
          if (typeof got === 'string') {
            violations.push(`cycle ${cycle}: volume ${name} region ${r}: ${got}`);
            continue;
          }
          if (!h.some((e) => e.version === got)) {
            violations.push(
              `cycle ${cycle}: volume ${name} region ${r} reads version ${got}; the durable value is ${h[0].version}` +
                ` (op ${h[0].id}), later candidates ${JSON.stringify(h.slice(1).map((e) => e.version))}`,
            );
            continue;
          }
          hist[vi][r] = [{ id: -cycle, version: got }]; // what is on disk now is the new base
          if (got !== base[vi][r]) touchedBlocks[vi].add(Math.floor((r * REGION_BYTES) / BLOCK_BYTES));
          base[vi][r] = got;
        }
        // A snapshot holds what the volume held when it was taken: regions of this volume
        // and place, never torn, stale or foreign (its blocks are shared with overlays).
        for (const snap of s.listSnapshots(name)) {
          const simg = await s.snapshotDevice(name, snap.name).read(0, VOLUME_BYTES);
          for (let r = 0; r < REGIONS; r++) {
            const got = decodeRegion(simg.subarray(r * REGION_BYTES, (r + 1) * REGION_BYTES), vi + 1, r);
            if (typeof got === 'string')
              violations.push(`cycle ${cycle}: snapshot ${name}/${snap.name} region ${r}: ${got}`);
          }
        }
        const union = s.getBitmap(name, 'since');
        for (const b of s.listBitmaps(name)) union.union(s.getBitmap(name, b.name));
        for (const block of touchedBlocks[vi]) {
          if (!union.has(block))
            violations.push(`cycle ${cycle}: volume ${name} block ${block} changed but no bitmap has it`);
        }
        // Start the next cycle with empty bitmaps, so each cycle checks its own marks.
        for (const b of s.listBitmaps(name)) await s.clearBitmap(name, b.name);
        touchedBlocks[vi].clear();
      }
      const info = s.pool();
      log(
        `cycle ${cycle}: ran ${runMs} ms, ${opsIssued} ops issued, ${opsDurable} durable so far; ` +
          `pool used ${info.usedBytes / BLOCK_BYTES}/${info.capacityBytes / BLOCK_BYTES} blocks; ` +
          `${violations.length} violations`,
      );
    } finally {
      await s.close();
    }
  }
  if (!options.dir && violations.length === 0) await rm(dir, { recursive: true, force: true });
  else log(`storage kept in ${dir}`);
  return { cycles: options.cycles, violations, opsIssued, opsDurable };
}
