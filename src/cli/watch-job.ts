/**
 * Follow a manager job to its end: a progress bar on a terminal (bytes, rate, ETA) and the
 * step log as it grows; nothing but the result otherwise. Ctrl-C asks the manager to
 * cancel the job. A job that failed becomes the command's error, with its code.
 */
import { SingleBar } from 'cli-progress';
import { type ErrorCode, ReboundError } from '../errors.js';
import type { JobView } from '../manager/api-schema.js';
import type { ManagerClient } from '../manager/client.js';
import { formatBytes } from '../units.js';

export async function watchJob(client: ManagerClient, job: JobView, quiet: boolean): Promise<JobView> {
  const tty = !quiet && process.stderr.isTTY;
  let bar: SingleBar | undefined;
  let logged = 0;
  const onSigint = () => {
    client.cancelJob(job.id).catch(() => {});
  };
  process.on('SIGINT', onSigint);
  try {
    const end = await client.waitJob(job.id, {
      intervalMs: 300,
      onChange: (j) => {
        if (quiet) return;
        for (const line of (j.log ?? []).slice(logged)) {
          bar?.stop();
          bar = undefined;
          process.stderr.write(
            `${line.at.slice(11, 19)} ${line.spec ? `[${line.spec}] ` : ''}${line.step}: ${line.message}\n`,
          );
        }
        logged = j.log?.length ?? logged;
        if (tty && j.progress && j.state === 'running') {
          if (!bar) {
            bar = new SingleBar({
              format: `  [{bar}] {percentage}% {done}/{total} {rate}/s ETA {eta_formatted}`,
              stream: process.stderr,
              hideCursor: true,
            });
            bar.start(1, 0, { done: '0 B', total: '?', rate: '0 B' });
          }
          bar.setTotal(Math.max(1, j.progress.bytesTotal));
          bar.update(j.progress.bytesDone, {
            done: formatBytes(j.progress.bytesDone),
            total: formatBytes(j.progress.bytesTotal),
            rate: formatBytes(Math.round(j.progress.rateBytesPerSec)),
          });
        }
      },
    });
    bar?.stop();
    if (end.state !== 'succeeded') {
      const e = end.error ?? {
        code: end.state === 'cancelled' ? 'CANCELLED' : 'INTERNAL',
        message: `job ${end.state}`,
      };
      throw new ReboundError(e.code as ErrorCode, `${end.title}: ${e.message} (rebound job show ${end.id})`, {
        detail: e.detail,
      });
    }
    return end;
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
}
