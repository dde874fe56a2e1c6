/**
 * A codec pool worker thread (codec-pool.ts): runs jobs (codec-jobs.ts) one at a time
 * and answers each with { id, result } or { id, error }, transferring result buffers.
 */
import { parentPort } from 'node:worker_threads';
import { type Job, runJob, toJobError, transferList } from './codec-jobs.js';

const port = parentPort;
if (!port) throw new Error('codec-worker.js runs as a worker thread');
port.on('message', (msg: { id: number; job: Job }) => {
  try {
    const result = runJob(msg.job);
    port.postMessage({ id: msg.id, result }, transferList(result));
  } catch (err) {
    port.postMessage({ id: msg.id, error: toJobError(err) });
  }
});
