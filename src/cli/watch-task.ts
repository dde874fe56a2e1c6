/**
 * Follow a node task to its end: a progress bar on a terminal (bytes, rate, ETA), nothing
 * but the final result otherwise. Ctrl-C asks the node to cancel the task. A task that
 * failed becomes the command's error, with the node's code.
 */
import { SingleBar } from 'cli-progress';
import { type ErrorCode, ReboundError } from '../errors.js';
import type { api, NodeClient } from '../node/index.js';
import { formatBytes } from '../units.js';

const POLL_MS = 250;

export async function watchTask(
  client: NodeClient,
  task: api.TaskView,
  quiet: boolean,
): Promise<api.TaskView> {
  const bar =
    !quiet && process.stderr.isTTY
      ? new SingleBar({
          format: `${task.title} [{bar}] {percentage}% {done}/{total} {rate}/s ETA {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
        })
      : undefined;
  bar?.start(1, 0, { done: '0 B', total: '?', rate: '0 B' });
  const onSigint = () => {
    client.cancelTask(task.id).catch(() => {});
  };
  process.on('SIGINT', onSigint);
  try {
    let t = task;
    let notesSeen = 0;
    while (t.state === 'running') {
      await new Promise((r) => setTimeout(r, POLL_MS));
      t = await client.getTask(task.id);
      // A note (the store stopped answering) says why the bar stands still.
      for (const n of (t.notes ?? []).slice(notesSeen)) {
        if (bar) process.stderr.write('\n');
        process.stderr.write(`${task.title}: ${n.message}\n`);
      }
      notesSeen = Math.max(notesSeen, t.notes?.length ?? 0);
      if (bar && t.progress) {
        bar.setTotal(Math.max(1, t.progress.bytesTotal));
        bar.update(t.progress.bytesDone, {
          done: formatBytes(t.progress.bytesDone),
          total: formatBytes(t.progress.bytesTotal),
          rate: formatBytes(Math.round(t.progress.rateBytesPerSec)),
        });
      }
    }
    bar?.stop();
    if (t.state !== 'succeeded') {
      const e = t.error ?? { code: 'INTERNAL', message: `task ${t.state}` };
      throw new ReboundError(e.code as ErrorCode, `${t.title}: ${e.message}`, { detail: e.detail });
    }
    return t;
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
}
