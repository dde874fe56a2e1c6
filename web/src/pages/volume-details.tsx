/**
 * One volume's management information (SPEC Fig. 7): where it lives, its unique ID and
 * the one it inherited from a restore (SPEC S209-S210), capacity, backups (one now, for
 * an operator), the generations timeline per store, and where the volume changed since
 * failover or its last backup (the update bitmap as a heat map).
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ago, formatBytes, formatTime } from '../components/format.js';
import { GenerationsCard } from '../components/generations.js';
import { HeatmapCard } from '../components/heatmap.js';
import { Badge, Facts, Health, LoadState, PageHeader, UsageBar } from '../components/page.js';
import { useLoad } from '../components/use-load.js';
import { useCan } from '../context.js';
import { Link, navigate } from '../router.js';
import type { PageProps } from '../routes.js';
import { BackupNowForm } from './backup-now.js';
import { DeleteVolumeDialog } from './volumes.js';

const time = (iso: string | null): ComponentChildren =>
  iso ? <span title={iso}>{`${formatTime(iso)} (${ago(iso)})`}</span> : <span class="muted">never</span>;

export function VolumeDetailsPage({ params }: PageProps) {
  const ref = params.volume;
  const canDelete = useCan('DELETE /v1/volumes/:volume');
  const canBackup = useCan('POST /v1/backups');
  const vol = useLoad((a) => a.getVolume(ref), [ref]);
  const v = vol.data;
  const [deleting, setDeleting] = useState(false);

  return (
    <section>
      <p class="crumbs">
        <Link href="/volumes">Volumes</Link> /
      </p>
      <PageHeader title={v ? v.name : ref}>
        {v && canDelete && (
          <button
            type="button"
            class="danger"
            aria-label={`Delete ${v.name}`}
            onClick={() => setDeleting(true)}
          >
            Delete
          </button>
        )}
      </PageHeader>
      {v && deleting && (
        <DeleteVolumeDialog
          volume={v}
          onClose={() => setDeleting(false)}
          onDeleted={() => navigate('/volumes', { replace: true })}
        />
      )}
      <LoadState loading={vol.loading && !v} error={vol.error} what={`volume ${ref}`} />
      {v && (
        <div class="details">
          <div class="card">
            <h2>Identity</h2>
            <Facts
              items={[
                [
                  'Unique ID',
                  <code key="uid" data-testid="unique-id">
                    {v.uniqueId}
                  </code>,
                ],
                [
                  'Inherited unique ID',
                  v.inheritedUniqueId ? (
                    <code data-testid="inherited-id">{v.inheritedUniqueId}</code>
                  ) : (
                    <span class="muted" data-testid="inherited-id">
                      none (not restored from another volume's backup)
                    </span>
                  ),
                ],
                ['Device serial number', <code key="serial">{v.serial}</code>],
                ['Volume number', String(v.number)],
                ['Created', time(v.createdAt)],
              ]}
            />
          </div>
          <div class="card">
            <h2>Placement</h2>
            <Facts
              items={[
                ['Node', v.node],
                ['Site', v.site || <span class="muted">none</span>],
                ['Node health', <Health key="h" health={v.nodeHealth} />],
                ['Pool', v.pool],
                ['Last synced from the node', time(v.syncedAt)],
              ]}
            />
          </div>
          <div class="card">
            <h2>Capacity</h2>
            <Facts
              items={[
                [
                  'Provisioned size',
                  `${formatBytes(v.sizeBytes)} (${v.sizeBytes.toLocaleString('en')} bytes)`,
                ],
                ['Used', `${formatBytes(v.usedBytes)} (${v.usedBytes.toLocaleString('en')} bytes)`],
                ['Used %', <UsageBar key="u" percent={v.usedPercent} />],
              ]}
            />
          </div>
          <div class="card">
            <h2>Backup</h2>
            <Facts
              items={[
                ['Backed up', v.backedUp ? <Badge tone="ok">yes</Badge> : <Badge tone="warn">not yet</Badge>],
                ['Last backup', time(v.lastBackupAt)],
              ]}
            />
            {canBackup && <BackupNowForm volume={v.uniqueId} />}
          </div>
          <GenerationsCard volume={v.uniqueId} />
          <HeatmapCard volume={v.uniqueId} />
        </div>
      )}
    </section>
  );
}
