/**
 * A volume's generations in one store as a timeline, oldest at the top: when, full /
 * incremental / differential, how much it stored (a bar against the largest), its
 * parent, and its verify state (the newest verify job that named it). An operator can
 * verify one, or restore it (the restore page, filled in).
 */
import { useState } from 'preact/hooks';
import type { ApiError, GenerationView, JobView } from '../api/client.js';
import { useApp, useCan } from '../context.js';
import { followLink, navigate } from '../router.js';
import { formatBytes, formatTime, plural } from './format.js';
import { JobState } from './job-state.js';
import { Badge, ErrorNote, LoadState } from './page.js';
import { toApiError, useLoad } from './use-load.js';

const METHOD_TONE = { full: 'info', incremental: 'plain', differential: 'warn' } as const;

/** The newest verify job per generation key (a verify of a whole volume counts for each of its generations). */
function verifyStates(jobs: JobView[], gens: GenerationView[]): Map<string, JobView> {
  const out = new Map<string, JobView>();
  for (const j of [...jobs].sort((a, b) => a.createdAt.localeCompare(b.createdAt))) {
    const p = j.params as { generation?: string; uniqueId?: string; store?: string };
    for (const g of gens)
      if (p.generation === g.key || (!p.generation && p.uniqueId === g.uniqueId && j.createdAt >= g.time))
        out.set(g.key, j);
  }
  return out;
}

export function GenerationsCard({ volume }: { volume: string }) {
  const { api } = useApp();
  const canVerify = useCan('POST /v1/stores/:store/verify');
  const canRestore = useCan('POST /v1/restores');
  const stores = useLoad((a) => a.listStores(), []);
  const [picked, setPicked] = useState('');
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const store = picked || stores.data?.[0]?.name || '';
  const gens = useLoad(
    async (a) => {
      if (!store) return null;
      const [list, verifies] = await Promise.all([
        a.listGenerations(store, { volume }),
        a.listJobs({ kind: 'verify', limit: 200 }),
      ]);
      return { list: [...list].sort((x, y) => x.time.localeCompare(y.time)), verifies };
    },
    [store, volume],
  );
  const g = gens.data;
  const biggest = Math.max(1, ...(g?.list ?? []).map((x) => x.storedBytes));
  const verified = g ? verifyStates(g.verifies, g.list) : new Map<string, JobView>();

  return (
    <div class="card wide-card" data-testid="generations">
      <h2>Generations</h2>
      {stores.data && stores.data.length > 1 && (
        <label class="inline-select">
          Store{' '}
          <select data-safe value={store} onChange={(e) => setPicked(e.currentTarget.value)}>
            {stores.data.map((s) => (
              <option key={s.name}>{s.name}</option>
            ))}
          </select>
        </label>
      )}
      {stores.data && !store && <p class="muted">No object store is registered.</p>}
      {actionError && <ErrorNote error={actionError} context="Verify" />}
      <LoadState
        loading={(gens.loading || stores.loading) && !g}
        error={gens.error ?? stores.error}
        what="generations"
      />
      {g && g.list.length === 0 && <p class="muted">No generation of this volume in {store} yet.</p>}
      {g && g.list.length > 0 && (
        <ol class="timeline" aria-label="Generations timeline">
          {g.list.map((x) => {
            const v = verified.get(x.key);
            return (
              <li key={x.key} class="generation" data-key={x.key}>
                <span class="gen-time" title={x.time}>
                  {formatTime(x.time)}
                </span>
                <span class="gen-no">#{x.generation}</span>
                <Badge tone={METHOD_TONE[x.method]} title={x.reason}>
                  {x.method}
                </Badge>
                <span class="gen-bar" title={`${x.storedBytes} bytes stored`}>
                  <span style={{ width: `${Math.max(1, (100 * x.storedBytes) / biggest)}%` }} />
                </span>
                <span class="gen-size">
                  {formatBytes(x.storedBytes)} <span class="muted">· {plural(x.blockCount, 'block')}</span>
                </span>
                <span class="gen-verify">
                  {v ? (
                    <a href={`/jobs/${v.id}`} onClick={followLink} title="the newest verify of it">
                      {v.state === 'succeeded' ? <Badge tone="ok">verified</Badge> : JobState({ job: v })}
                    </a>
                  ) : (
                    <span class="muted">not verified</span>
                  )}
                </span>
                <span class="row-actions">
                  {canVerify && (
                    <button
                      type="button"
                      class="small"
                      aria-label={`Verify generation ${x.generation}`}
                      onClick={() =>
                        api.verify(store, { generation: x.key }).then(
                          (job) => navigate(`/jobs/${job.id}`),
                          (err) => setActionError(toApiError(err)),
                        )
                      }
                    >
                      Verify
                    </button>
                  )}
                  {canRestore && (
                    <a
                      class="button small"
                      href={`/restore?store=${encodeURIComponent(store)}&source=${encodeURIComponent(x.uniqueId)}&generation=${encodeURIComponent(x.key)}`}
                      onClick={followLink}
                    >
                      Restore…
                    </a>
                  )}
                </span>
              </li>
            );
          })}
        </ol>
      )}
    </div>
  );
}
