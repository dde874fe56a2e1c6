/**
 * One job: its state and progress live from the job stream, the step log with the SPEC
 * step each step carries out, the result or the error, and cancel or resume for an
 * operator. The log is fetched again whenever the stream says the job moved.
 */
import { useRef } from 'preact/hooks';
import { ApiError, type JobLogView } from '../api/client.js';
import { ConfirmButton } from '../components/confirm.js';
import { ago, formatTime } from '../components/format.js';
import { JobProgress, JobState } from '../components/job-state.js';
import { JOB_ENDED, useJobStream } from '../components/job-stream.js';
import { Badge, ErrorNote, Facts, LoadState, PageHeader } from '../components/page.js';
import { useLoad } from '../components/use-load.js';
import { useApp, useCan } from '../context.js';
import { Link } from '../router.js';
import type { PageProps } from '../routes.js';

const STEP_TONE = { started: 'info', done: 'ok', failed: 'bad', paused: 'warn', info: 'plain' } as const;

export function JobDetailsPage({ params }: PageProps) {
  const id = params.job;
  const { api } = useApp();
  const canCancel = useCan('POST /v1/jobs/:job/cancel');
  const canResume = useCan('POST /v1/jobs/:job/resume');
  const job = useLoad((a) => a.getJob(id), [id]);
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  // A burst of progress events becomes one reload of the job and its log.
  useJobStream(
    (j) => {
      if (j.id !== id || pending.current) return;
      pending.current = setTimeout(() => {
        pending.current = null;
        void job.reload();
      }, 250);
    },
    () => void job.reload(),
  );
  const j = job.data;
  const ended = j ? JOB_ENDED.includes(j.state) : false;

  return (
    <section>
      <p class="crumbs">
        <Link href="/jobs">Jobs</Link> /
      </p>
      <PageHeader title={j ? j.title : id}>
        {j && canCancel && !ended && j.state !== 'cancelling' && (
          <ConfirmButton
            label="Cancel job"
            title={`Cancel ${j.title}?`}
            confirmLabel="Cancel job"
            small={false}
            onConfirm={async () => {
              await api.cancelJob(j.id);
              await job.reload();
            }}
          >
            <p>The job stops at its next safe point; steps already done stay done.</p>
          </ConfirmButton>
        )}
        {j && canResume && j.state === 'paused' && (
          <ConfirmButton
            label="Resume job"
            title={`Resume ${j.title}?`}
            confirmLabel="Resume job"
            tone="plain"
            small={false}
            onConfirm={async () => {
              await api.resumeJob(j.id);
              await job.reload();
            }}
          >
            <p>The job goes on from the step it paused at.</p>
          </ConfirmButton>
        )}
      </PageHeader>
      <LoadState loading={job.loading && !j} error={job.error} what={`job ${id}`} />
      {j && (
        <>
          <div class="details">
            <div class="card">
              <h2>State</h2>
              <Facts
                items={[
                  [
                    'State',
                    <span key="s" data-testid="job-state">
                      {JobState({ job: j })}
                    </span>,
                  ],
                  ['Step', j.step ?? <span class="muted">—</span>],
                  ['Progress', <JobProgress key="p" job={j} />],
                  ['Kind', j.kind],
                  ['ID', <code key="id">{j.id}</code>],
                  ['Started by', j.createdBy ?? 'the scheduler'],
                  [
                    'Created',
                    <span
                      key="c"
                      title={j.createdAt}
                    >{`${formatTime(j.createdAt)} (${ago(j.createdAt)})`}</span>,
                  ],
                  ['Ended', formatTime(j.endedAt)],
                ]}
              />
              {j.pausedReason && <p class="notice">Paused: {j.pausedReason}</p>}
            </div>
            <div class="card">
              <h2>{j.error ? 'Error' : 'Result'}</h2>
              {j.error ? (
                <ErrorNote error={new ApiError(j.error.code, j.error.message, 0, j.error.detail ?? {})} />
              ) : j.result ? (
                <pre class="json" data-testid="job-result">
                  {JSON.stringify(j.result, null, 2)}
                </pre>
              ) : (
                <p class="muted">Not finished.</p>
              )}
            </div>
          </div>
          <div class="card wide-card">
            <h2>Steps</h2>
            <StepLog log={j.log ?? []} />
          </div>
        </>
      )}
    </section>
  );
}

function StepLog({ log }: { log: JobLogView[] }) {
  if (log.length === 0) return <p class="muted">No step has started yet.</p>;
  return (
    <table class="steps" aria-label="Step log">
      <thead>
        <tr>
          <th>Time</th>
          <th>Step</th>
          <th>SPEC</th>
          <th>Status</th>
          <th>What</th>
        </tr>
      </thead>
      <tbody>
        {log.map((l, i) => (
          <tr key={i}>
            <td title={l.at}>{formatTime(l.at)}</td>
            <td>
              <code>{l.step}</code>
            </td>
            <td>{l.spec ?? <span class="muted">—</span>}</td>
            <td>
              <Badge tone={STEP_TONE[l.status as keyof typeof STEP_TONE] ?? 'plain'}>{l.status}</Badge>
            </td>
            <td class="wrap">{l.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
