/** A job's state as a badge and its progress as a bar; also called as plain functions in long tables. */
import type { JobView } from '../api/client.js';
import { formatBytes } from './format.js';
import { Badge, type Tone } from './page.js';

const TONE: Record<JobView['state'], Tone> = {
  queued: 'plain',
  running: 'info',
  paused: 'warn',
  cancelling: 'warn',
  succeeded: 'ok',
  failed: 'bad',
  cancelled: 'plain',
};

export function JobState({ job }: { job: Pick<JobView, 'state' | 'pausedReason'> }) {
  return (
    <Badge tone={TONE[job.state]} title={job.pausedReason ?? undefined}>
      {job.state}
    </Badge>
  );
}

export function JobProgress({ job }: { job: Pick<JobView, 'progress' | 'state'> }) {
  const p = job.progress;
  if (!p || p.bytesTotal <= 0)
    return (
      <span class="muted">
        {job.state === 'succeeded' ? 'done' : job.state === 'running' ? 'working…' : '—'}
      </span>
    );
  const pct = Math.min(100, (100 * p.bytesDone) / p.bytesTotal);
  return (
    <span class="usage" title={`${p.bytesDone} of ${p.bytesTotal} bytes`}>
      <span class="usage-bar">
        <span class="usage-fill" style={{ width: `${pct}%` }} />
      </span>
      <span class="usage-text">
        {formatBytes(p.bytesDone)} / {formatBytes(p.bytesTotal)}
      </span>
    </span>
  );
}
