/**
 * The DR dashboard: the sites and their nodes, then every volume with where it is
 * active (primary, or the secondary site it failed over to), its DR state, the failback
 * pair's state and journal lag while one runs, the blocks changed at the secondary, and
 * its RPO (age of the newest backup); below, backup sizes and durations over time. An
 * operator starts a failover (the wizard) or a volume's failback from here.
 */
import { useMemo } from 'preact/hooks';
import type { DrVolumeView, JobView, VolumeView } from '../api/client.js';
import { BackupPlot, type BackupPoint } from '../components/backup-plot.js';
import { formatBytes, plural } from '../components/format.js';
import { Badge, Health, LoadState, PageHeader } from '../components/page.js';
import { type Column, DataTable } from '../components/table.js';
import { useLoad } from '../components/use-load.js';
import { useCan } from '../context.js';
import { followLink, Link, navigate } from '../router.js';
import { jobHref } from './jobs.js';

export interface DrRow {
  volume: VolumeView;
  dr: DrVolumeView | undefined;
  /** The volume at the secondary, when failed over (for its heat map). */
  secondary: VolumeView | undefined;
}

/** "42 s", "5 min", "3.1 h", "2.0 d"; never backed up: "none". */
export function rpoText(seconds: number | null): string {
  if (seconds === null) return 'none';
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function rpoSeconds(v: VolumeView, now: number): number | null {
  return v.lastBackupAt ? Math.max(0, (now - Date.parse(v.lastBackupAt)) / 1000) : null;
}

/** Primary volumes with their DR record; a restored volume at a secondary is shown on its primary's row. */
export function drRows(volumes: VolumeView[], dr: DrVolumeView[], primarySites: Set<string>): DrRow[] {
  const byLineage = new Map(dr.map((d) => [d.lineage, d]));
  const byPlace = new Map(volumes.map((v) => [`${v.node}/${v.name}`, v]));
  return volumes
    .filter((v) => primarySites.has(v.site))
    .map((v) => {
      const d = byLineage.get(v.inheritedUniqueId ?? v.uniqueId);
      const secondary = d?.secondaryNode ? byPlace.get(`${d.secondaryNode}/${d.secondaryVolume}`) : undefined;
      return { volume: v, dr: d, secondary };
    });
}

function backupPoints(jobs: JobView[]): BackupPoint[] {
  const out: BackupPoint[] = [];
  for (const j of jobs) {
    const r = (j.result ?? {}) as { bytesStored?: number; elapsedMs?: number; generationKey?: string };
    if (j.state !== 'succeeded' || !j.endedAt || typeof r.bytesStored !== 'number') continue;
    const seconds =
      typeof r.elapsedMs === 'number'
        ? r.elapsedMs / 1000
        : (Date.parse(j.endedAt) - Date.parse(j.startedAt ?? j.createdAt)) / 1000;
    out.push({ at: Date.parse(j.endedAt), bytes: r.bytesStored, seconds, label: j.title });
  }
  return out.sort((a, b) => a.at - b.at);
}

export function DrPage() {
  const canFailover = useCan('POST /v1/failovers');
  const canFailback = useCan('POST /v1/failbacks');
  const data = useLoad(
    async (a) => {
      const [sites, nodes, volumes, dr, backups] = await Promise.all([
        a.listSites(),
        a.listNodes(),
        a.listVolumes(),
        a.drStatus(),
        a.listJobs({ kind: 'backup', state: 'succeeded', limit: 200 }),
      ]);
      return { sites, nodes, volumes, dr, backups, now: Date.now() };
    },
    [],
    { refreshMs: 5_000 },
  );
  const d = data.data;
  const rows = useMemo(() => {
    if (!d) return [];
    const primary = new Set(d.sites.filter((s) => s.role === 'primary').map((s) => s.name));
    return drRows(d.volumes, d.dr, primary);
  }, [d]);
  const points = useMemo(() => backupPoints(d?.backups ?? []), [d]);
  const now = d?.now ?? Date.now();

  const columns = useMemo<Column<DrRow>[]>(() => {
    const cols: Column<DrRow>[] = [
      {
        key: 'volume',
        label: 'Volume',
        width: '13%',
        value: (r) => `${r.volume.name} ${r.volume.uniqueId}`,
        render: (r) => (
          <a href={`/volumes/${encodeURIComponent(r.volume.uniqueId)}`} onClick={followLink}>
            {r.volume.name}
          </a>
        ),
      },
      {
        key: 'active',
        label: 'Active at',
        width: '14%',
        value: (r) => (r.dr?.active === 'secondary' ? `${r.dr.secondarySite}` : r.volume.site),
        render: (r) =>
          r.dr?.active === 'secondary' ? (
            <>
              <Badge tone="warn" title={`node ${r.dr.secondaryNode}`}>
                {r.dr.secondarySite} (secondary)
              </Badge>
              {r.dr.secondaryProblem && (
                <>
                  <br />
                  <span
                    class="badge badge-bad"
                    data-testid="secondary-problem"
                    title={`${r.dr.secondaryProblem}. If its node stopped, start it again from Sites and nodes.`}
                  >
                    not answering
                  </span>
                </>
              )}
            </>
          ) : (
            <Badge tone="ok" title={`node ${r.volume.node}`}>
              {r.volume.site || r.volume.node} (primary)
            </Badge>
          ),
      },
      {
        key: 'state',
        label: 'DR state',
        width: '11%',
        value: (r) => r.dr?.state ?? (r.volume.backedUp ? 'protected' : 'unprotected'),
        render: (r) =>
          r.dr ? (
            <a href={jobHref(r.dr.failbackJob ?? r.dr.failoverJob ?? '')} onClick={followLink}>
              {r.dr.state}
            </a>
          ) : r.volume.backedUp ? (
            'protected'
          ) : (
            <span class="muted">not backed up</span>
          ),
      },
      {
        key: 'pair',
        label: 'Pair / journal lag',
        width: '17%',
        value: (r) => r.dr?.pair?.lagEntries ?? -1,
        render: (r) => {
          const p = r.dr?.pair;
          if (!p) return <span class="muted">—</span>;
          return (
            <span title={`pair ${p.name}`}>
              {p.state} {formatBytes(p.blocksCopied * p.blockBytes)} of{' '}
              {formatBytes(p.blocksToCopy * p.blockBytes)}
              <br />
              <span class="muted">
                lag {plural(p.lagEntries, 'entry', 'entries')}, {formatBytes(p.lagBytes)}
              </span>
              {p.retrying && (
                <>
                  <br />
                  <span
                    class="badge badge-warn"
                    title={`${p.retrying.message}; since ${p.retrying.since}, next try ${p.retrying.nextAttemptAt}`}
                  >
                    retrying, attempt {p.retrying.attempt}
                  </span>
                </>
              )}
            </span>
          );
        },
        noFilter: true,
      },
      {
        key: 'changed',
        label: 'Changed at secondary',
        width: '15%',
        value: (r) => r.dr?.changedBlocks ?? -1,
        render: (r) =>
          r.dr?.changedBlocks == null ? (
            <span class="muted">—</span>
          ) : r.secondary ? (
            <a
              href={`/volumes/${encodeURIComponent(r.secondary.uniqueId)}`}
              onClick={followLink}
              title="heat map"
            >
              {plural(r.dr.changedBlocks, 'block')} · {formatBytes(r.dr.changedBytes ?? 0)}
            </a>
          ) : (
            `${plural(r.dr.changedBlocks, 'block')} · ${formatBytes(r.dr.changedBytes ?? 0)}`
          ),
        noFilter: true,
      },
      {
        key: 'rpo',
        label: 'RPO',
        width: '9%',
        value: (r) => rpoSeconds(r.volume, now) ?? Number.MAX_SAFE_INTEGER,
        render: (r) => {
          const s = rpoSeconds(r.volume, now);
          return (
            <Badge tone={s === null ? 'bad' : s > 86400 ? 'warn' : 'plain'} title="age of the newest backup">
              {rpoText(s)}
            </Badge>
          );
        },
        align: 'right',
        noFilter: true,
      },
    ];
    if (canFailback)
      cols.push({
        key: 'actions',
        label: '',
        width: '13%',
        value: () => null,
        align: 'right',
        noSort: true,
        noFilter: true,
        render: (r) =>
          r.dr?.active === 'secondary' && r.dr.state === 'failed-over' ? (
            <button
              type="button"
              class="small"
              aria-label={`Fail back ${r.volume.name}`}
              onClick={() => navigate(`/failback?volume=${encodeURIComponent(r.dr!.lineage)}`)}
            >
              Fail back…
            </button>
          ) : null,
      });
    return cols;
  }, [canFailback, now]);

  return (
    <section>
      <PageHeader title="Disaster recovery">
        {canFailover && (
          <button type="button" class="primary" onClick={() => navigate('/failover')}>
            Fail over…
          </button>
        )}
      </PageHeader>
      <LoadState loading={data.loading && !d} error={data.error} what="the DR state" />
      {d && (
        <>
          <div class="details">
            {d.sites.map((s) => (
              <div class="card" key={s.name} data-testid={`site-${s.name}`}>
                <h2>
                  {s.name} <Badge tone={s.role === 'primary' ? 'info' : 'warn'}>{s.role}</Badge>
                </h2>
                {s.nodes.length === 0 ? (
                  <p class="muted">no node</p>
                ) : (
                  <ul class="plain-list">
                    {d.nodes
                      .filter((n) => n.site === s.name)
                      .map((n) => (
                        <li key={n.name}>
                          {n.name} {Health({ health: n.health, reason: n.healthReason })}{' '}
                          <span class="muted">{plural(n.volumes, 'volume')}</span>
                        </li>
                      ))}
                  </ul>
                )}
                <p class="muted">
                  active here:{' '}
                  {plural(
                    s.role === 'primary'
                      ? rows.filter((r) => r.volume.site === s.name && r.dr?.active !== 'secondary').length
                      : d.dr.filter((x) => x.active === 'secondary' && x.secondarySite === s.name).length,
                    'volume',
                  )}
                </p>
              </div>
            ))}
          </div>
          <DataTable
            label="Protected volumes"
            rows={rows}
            columns={columns}
            rowKey={(r) => r.volume.uniqueId}
            noun={['volume', 'volumes']}
            empty={
              <>
                No volume at a primary site yet. <Link href="/volumes">Add one.</Link>
              </>
            }
          />
          <div class="card wide-card spaced">
            <h2>Backups over time</h2>
            <BackupPlot points={points} />
          </div>
        </>
      )}
    </section>
  );
}
