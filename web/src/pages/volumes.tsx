/**
 * Volumes (SPEC Fig. 7 and 18): every volume of every node with its capacity, use and
 * the health of the node holding it; add one on a chosen node, delete one after asking.
 * The unique ID (serial:number) names a volume in links, since names repeat across nodes.
 */
import { useMemo, useState } from 'preact/hooks';
import type { NodeView, VolumeView } from '../api/client.js';
import { ConfirmDialog } from '../components/confirm.js';
import { Field, Form, useFields } from '../components/form.js';
import { ago, formatBytes, formatTime, parseSize, SIZE_UNITS, type SizeUnit } from '../components/format.js';
import { Health, LoadState, PageHeader, UsageBar } from '../components/page.js';
import { type Column, DataTable } from '../components/table.js';
import { useLoad } from '../components/use-load.js';
import { useApp, useCan } from '../context.js';
import { followLink } from '../router.js';

export const volumeHref = (v: VolumeView) => `/volumes/${encodeURIComponent(v.uniqueId)}`;

export function VolumesPage() {
  const canCreate = useCan('POST /v1/volumes');
  const canDelete = useCan('DELETE /v1/volumes/:volume');
  const volumes = useLoad((a) => a.listVolumes(), []);
  const [adding, setAdding] = useState(false);
  const [deleting, setDeleting] = useState<VolumeView | null>(null);

  const columns = useMemo<Column<VolumeView>[]>(() => {
    const cols: Column<VolumeView>[] = [
      {
        key: 'name',
        width: '17%',
        label: 'Name',
        value: (v) => v.name,
        render: (v) => (
          <a href={volumeHref(v)} onClick={followLink}>
            {v.name}
          </a>
        ),
      },
      {
        key: 'uid',
        width: '13%',
        label: 'Unique ID',
        value: (v) => v.uniqueId,
        render: (v) => <code>{v.uniqueId}</code>,
      },
      {
        key: 'node',
        width: '14%',
        label: 'Node',
        value: (v) => `${v.node} ${v.site}`,
        render: (v) => (
          <>
            {v.node}
            <span class="muted"> · {v.site || 'no site'}</span>
          </>
        ),
      },
      {
        key: 'health',
        width: '9%',
        label: 'Health',
        value: (v) => v.nodeHealth,
        render: (v) => Health({ health: v.nodeHealth }),
      },
      {
        key: 'size',
        width: '9%',
        label: 'Capacity',
        value: (v) => v.sizeBytes,
        render: (v) => formatBytes(v.sizeBytes),
        align: 'right',
        noFilter: true,
      },
      {
        key: 'used',
        width: '18%',
        label: 'Used',
        value: (v) => v.usedPercent,
        render: (v) => (
          <span class="used-cell">
            <span class="used-bytes">{formatBytes(v.usedBytes)}</span>
            {UsageBar({ percent: v.usedPercent })}
          </span>
        ),
        noFilter: true,
      },
      {
        key: 'backup',
        width: '11%',
        label: 'Last backup',
        value: (v) => v.lastBackupAt,
        render: (v) =>
          v.lastBackupAt ? (
            <span title={formatTime(v.lastBackupAt)}>{ago(v.lastBackupAt)}</span>
          ) : (
            <span class="muted">never</span>
          ),
        noFilter: true,
      },
    ];
    if (canDelete) {
      cols.push({
        key: 'actions',
        width: '9%',
        label: '',
        value: () => null,
        align: 'right',
        noSort: true,
        noFilter: true,
        // A plain button per row; the one dialog below asks.
        render: (v) => (
          <button
            type="button"
            class="danger small"
            aria-label={`Delete ${v.name}`}
            onClick={() => setDeleting(v)}
          >
            Delete
          </button>
        ),
      });
    }
    return cols;
  }, [canDelete]);

  return (
    <section>
      <PageHeader title="Volumes">
        {canCreate && !adding && (
          <button type="button" class="primary" onClick={() => setAdding(true)}>
            Add volume
          </button>
        )}
      </PageHeader>
      {canCreate && adding && (
        <AddVolumeForm
          onCancel={() => setAdding(false)}
          onAdded={() => {
            setAdding(false);
            void volumes.reload();
          }}
        />
      )}
      {deleting && (
        <DeleteVolumeDialog
          volume={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={() => {
            void volumes.reload();
          }}
        />
      )}
      <LoadState loading={volumes.loading && !volumes.data} error={volumes.error} what="volumes" />
      {volumes.data && (
        <DataTable
          label="Volumes"
          rows={volumes.data}
          columns={columns}
          rowKey={(v) => v.uniqueId}
          noun={['volume', 'volumes']}
          empty={
            canCreate
              ? 'No volumes yet. Add one on a registered node.'
              : 'No volumes yet. An operator adds them on a registered node.'
          }
        />
      )}
    </section>
  );
}

export function DeleteVolumeDialog({
  volume,
  onDeleted,
  onClose,
}: {
  volume: VolumeView;
  onDeleted: () => void;
  onClose: () => void;
}) {
  const { api } = useApp();
  return (
    <ConfirmDialog
      title={`Delete volume ${volume.name}?`}
      confirmLabel="Delete volume"
      onClose={onClose}
      onConfirm={async () => {
        await api.deleteVolume(volume.uniqueId);
        onDeleted();
      }}
    >
      <p>
        Volume <strong>{volume.name}</strong> (<code>{volume.uniqueId}</code>) on node {volume.node} and all
        its data, snapshots and update bitmaps are deleted from the node. Backups in object stores are kept.
      </p>
    </ConfirmDialog>
  );
}

function AddVolumeForm({ onAdded, onCancel }: { onAdded: (v: VolumeView) => void; onCancel: () => void }) {
  const { api } = useApp();
  const nodes = useLoad((a) => a.listNodes(), []);
  const f = useFields({ node: '', name: '', size: '10', unit: 'GiB' });
  const usable = (nodes.data ?? []).filter((n: NodeView) => n.health === 'ok');
  const node = f.values.node || usable[0]?.name || '';

  return (
    <Form
      title="Add a volume"
      submitLabel="Add volume"
      onCancel={onCancel}
      validate={() => {
        if (!node) return 'Pick a node: register one under Sites and nodes first.';
        if (!Number.isFinite(parseSize(f.values.size, f.values.unit as SizeUnit)))
          return 'The size must be a positive number.';
        return null;
      }}
      onSubmit={async () => {
        const v = await api.createVolume({
          node,
          name: f.values.name.trim(),
          sizeBytes: parseSize(f.values.size, f.values.unit as SizeUnit),
        });
        onAdded(v);
      }}
    >
      <Field label="Node" name="node" hint={nodes.error ? nodes.error.message : 'Where the volume lives.'}>
        <select
          name="node"
          value={node}
          onChange={(e) => f.set((s) => ({ ...s, node: e.currentTarget.value }))}
        >
          {!nodes.data && <option value="">{nodes.error ? 'no nodes' : 'loading nodes…'}</option>}
          {(nodes.data ?? []).map((n) => (
            <option key={n.name} value={n.name} disabled={n.health !== 'ok'}>
              {n.name} ({n.site}){n.health === 'ok' ? '' : ' — unreachable'}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Name" name="name" hint="1-64 of A-Z a-z 0-9 . _ -">
        <input name="name" required autocomplete="off" {...f.bind('name')} />
      </Field>
      <Field
        label="Size"
        name="sizeBytes"
        hint="Thin: uses no space until written."
        addon={
          <select
            name="unit"
            aria-label="Size unit"
            value={f.values.unit}
            onChange={(e) => f.set((s) => ({ ...s, unit: e.currentTarget.value }))}
          >
            {Object.keys(SIZE_UNITS).map((u) => (
              <option key={u}>{u}</option>
            ))}
          </select>
        }
      >
        <input name="size" inputMode="decimal" required {...f.bind('size')} />
      </Field>
    </Form>
  );
}
