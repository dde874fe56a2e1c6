/**
 * Jobs: every long action (backups, restores, verifies, failovers, failbacks) newest
 * first, kept current by the job stream: a job that moves updates its row in place
 * without asking the manager for the list again.
 */
import { useMemo, useState } from 'preact/hooks';
import type { JobView } from '../api/client.js';
import { ago, formatTime } from '../components/format.js';
import { JobProgress, JobState } from '../components/job-state.js';
import { useJobStream } from '../components/job-stream.js';
import { LoadState, PageHeader } from '../components/page.js';
import { type Column, DataTable } from '../components/table.js';
import { useLoad } from '../components/use-load.js';
import { followLink } from '../router.js';

export const jobHref = (id: string) => `/jobs/${encodeURIComponent(id)}`;

const columns: Column<JobView>[] = [
  {
    key: 'created',
    label: 'Started',
    width: '13%',
    value: (j) => j.createdAt,
    render: (j) => <span title={formatTime(j.createdAt)}>{ago(j.createdAt)}</span>,
    noFilter: true,
  },
  { key: 'kind', label: 'Kind', width: '9%', value: (j) => j.kind },
  {
    key: 'title',
    label: 'Job',
    width: '38%',
    value: (j) => `${j.title} ${j.id}`,
    render: (j) => (
      <a href={jobHref(j.id)} onClick={followLink}>
        {j.title}
      </a>
    ),
    wrap: true,
  },
  { key: 'state', label: 'State', width: '10%', value: (j) => j.state, render: (j) => JobState({ job: j }) },
  {
    key: 'progress',
    label: 'Progress',
    width: '20%',
    value: (j) => j.progress?.bytesDone ?? 0,
    render: (j) => JobProgress({ job: j }),
    noFilter: true,
  },
  { key: 'by', label: 'By', width: '10%', value: (j) => j.createdBy ?? 'scheduler' },
];

export function JobsPage() {
  const jobs = useLoad((a) => a.listJobs({ limit: 500 }), []);
  const [live, setLive] = useState<Map<string, JobView>>(new Map());
  useJobStream(
    (j) => setLive((m) => new Map(m).set(j.id, j)),
    () => void jobs.reload(),
  );
  const rows = useMemo(() => {
    const known = new Map((jobs.data ?? []).map((j) => [j.id, j]));
    for (const [id, j] of live) known.set(id, j);
    return [...known.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }, [jobs.data, live]);

  return (
    <section>
      <PageHeader title="Jobs" />
      <LoadState loading={jobs.loading && !jobs.data} error={jobs.error} what="jobs" />
      {jobs.data && (
        <DataTable
          label="Jobs"
          rows={rows}
          columns={columns}
          rowKey={(j) => j.id}
          noun={['job', 'jobs']}
          initialSort={{ key: 'created', desc: true }}
          empty="No jobs yet: backups, restores, failovers and failbacks show here as they run."
        />
      )}
    </section>
  );
}
