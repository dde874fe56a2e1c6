/**
 * A drive write worker (a WorkerPool's, drives.ts: { id, job } in, { id, result } or
 * { id, error } out): writes a turn's small scattered writes with pwrite, one after
 * another, from one buffer. One message for many writes instead of a thread-pool round
 * trip each, which costs the node's main thread some 7-13 us per write here (most of it
 * waking a pool thread): a failback's copy into a 64 KiB-block pool is 4 KiB writes into
 * blocks of their own, none adjacent.
 *
 * job: data (the bytes, back to back), runs: [fd, position, offset in data, length] each.
 * result: per run, null or the error ({ message, code }) that failed it.
 */
import { writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

export interface WriteJob {
  data: ArrayBuffer;
  runs: Float64Array;
}

export type WriteResult = ({ message: string; code?: string } | null)[];

const port = parentPort;
if (!port) throw new Error('write-worker.js runs as a worker thread');

port.on('message', (msg: { id: number; job: WriteJob }) => {
  const { data, runs } = msg.job;
  const bytes = new Uint8Array(data);
  const result: WriteResult = [];
  for (let k = 0; k < runs.length; k += 4) {
    const [fd, position, offset, length] = [runs[k], runs[k + 1], runs[k + 2], runs[k + 3]];
    try {
      for (let done = 0; done < length; )
        done += writeSync(fd, bytes, offset + done, length - done, position + done);
      result.push(null);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      result.push({ message: e.message, code: e.code });
    }
  }
  port.postMessage({ id: msg.id, result });
});
