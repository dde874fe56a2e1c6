/**
 * Crash-loop worker: opens the storage and does random writes (some FUA), zeroes, trims
 * and flushes on two volumes, plus bitmap freeze/merge and a snapshot of each volume
 * taken again now and then (so 4 KiB writes land in shared 64 KiB blocks: overlays,
 * copy-on-write at the grain), until the loop kills it with
 * SIGKILL. Before issuing ops it reports them (and waits for the IPC channel to take the
 * message); when a flush or FUA completes it reports which ops are durable.
 *
 * argv: <dir> <first op id>
 */
import { NodeStorage } from '../../src/volume/index.js';
import {
  BLOCK_BYTES,
  type IssuedOp,
  REGION_BYTES,
  REGIONS,
  regionData,
  VOLUMES,
  type WorkerMessage,
} from './crash-common.js';

const [dir, firstId] = process.argv.slice(2);
let nextId = Number(firstId);

function send(m: WorkerMessage): Promise<void> {
  return new Promise((resolve, reject) =>
    process.send!(m, undefined, {}, (e) => (e ? reject(e) : resolve())),
  );
}

const rnd = (n: number) => Math.floor(Math.random() * n);

async function main(): Promise<void> {
  const storage = await NodeStorage.open(dir);
  const devs = VOLUMES.map((v) => storage.hostDevice(v));
  await send({ kind: 'ready' });
  const busy = VOLUMES.map(() => new Uint8Array(REGIONS));
  let completed: number[] = [];
  let inflight = 0;
  let iteration = 0;
  const fail = (e: unknown) => {
    void send({ kind: 'error', message: String((e as Error)?.stack ?? e) }).finally(() => process.exit(3));
  };

  for (;;) {
    iteration++;
    const ops: IssuedOp[] = [];
    const datas: (() => Promise<void>)[] = [];
    for (let k = 0; k < 8; k++) {
      const vi = rnd(2);
      const dice = rnd(100);
      let first: number;
      let count: number;
      let what: IssuedOp['what'];
      if (dice < 8) {
        what = 'trim';
        const perBlock = BLOCK_BYTES / REGION_BYTES;
        first = rnd(REGIONS / perBlock) * perBlock;
        count = perBlock * (1 + rnd(2));
      } else if (dice < 14) {
        what = 'zero';
        first = rnd(REGIONS);
        count = 1 + rnd(4);
      } else {
        what = dice < 30 ? 'fua-write' : 'write';
        first = rnd(REGIONS);
        count = 1 + rnd(dice % 5 === 0 ? 32 : 4);
      }
      count = Math.min(count, REGIONS - first);
      let free = true;
      for (let r = first; r < first + count; r++) if (busy[vi][r]) free = false;
      if (!free) continue;
      for (let r = first; r < first + count; r++) busy[vi][r] = 1;
      const id = nextId++;
      const op: IssuedOp = { id, volume: vi + 1, what, regions: [] };
      for (let r = first; r < first + count; r++)
        op.regions.push({ region: r, version: what.endsWith('write') ? id : 0 });
      ops.push(op);
      const dev = devs[vi];
      const offset = first * REGION_BYTES;
      const length = count * REGION_BYTES;
      datas.push(async () => {
        if (what === 'trim') await dev.trim(offset, length);
        else if (what === 'zero') await dev.writeZeroes(offset, length);
        else {
          const data = Buffer.concat(op.regions.map((x) => regionData(vi + 1, x.region, id)));
          await dev.write(offset, data, { fua: what === 'fua-write' });
        }
        for (let r = first; r < first + count; r++) busy[vi][r] = 0;
        if (what === 'fua-write') await send({ kind: 'durable', ids: [id] });
        else completed.push(id);
      });
    }
    if (ops.length > 0) await send({ kind: 'issue', ops });
    for (const run of datas) {
      inflight++;
      run()
        .then(() => {
          inflight--;
        })
        .catch(fail);
    }
    if (iteration % 4 === 0) {
      const ids = completed;
      completed = [];
      devs[rnd(2)]
        .flush()
        .then(() => send({ kind: 'durable', ids }))
        .catch(fail);
    }
    if (iteration % 25 === 0) {
      // Keep every changed block in the union of the volume's bitmaps while moving bits
      // around: fold the frozen bitmap back in, then freeze the active one into it.
      const v = VOLUMES[rnd(2)];
      await storage.mergeBitmap(v, 'fixed', 'since');
      await storage.freezeBitmap(v, 'since', 'fixed');
    }
    if (iteration % 10 === 0) {
      const v = VOLUMES[rnd(2)];
      if (storage.listSnapshots(v).length > 0) await storage.deleteSnapshot(v, 'keep');
      await storage.createSnapshot(v, 'keep');
    }
    while (inflight >= 32) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  }
}

main().catch((e) => {
  void send({ kind: 'error', message: String((e as Error)?.stack ?? e) }).finally(() => process.exit(2));
});
