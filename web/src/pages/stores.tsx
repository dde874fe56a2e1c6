/**
 * Object stores (SPEC Fig. 9): the registered stores; add one (directory or S3, with
 * region, keys, bucket, encryption and tags), delete one. A secret goes in once and is
 * never shown again: the list says only whether one is set, and the form forgets it as
 * soon as the manager has it.
 */
import { useMemo, useState } from 'preact/hooks';
import type { StoreView } from '../api/client.js';
import { ConfirmButton } from '../components/confirm.js';
import { Field, Form, useFields } from '../components/form.js';
import { formatTime } from '../components/format.js';
import { Badge, LoadState, PageHeader } from '../components/page.js';
import { type Column, DataTable } from '../components/table.js';
import { useLoad } from '../components/use-load.js';
import { useApp, useCan } from '../context.js';

const where = (s: StoreView) =>
  s.provider === 'directory' ? (s.path ?? '') : [s.endpoint ?? 'AWS', s.bucket].filter(Boolean).join(' / ');
const tagText = (tags: Record<string, string>) =>
  Object.entries(tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

export function StoresPage() {
  const { api } = useApp();
  const canAdd = useCan('POST /v1/stores');
  const canDelete = useCan('DELETE /v1/stores/:store');
  const stores = useLoad((a) => a.listStores(), []);
  const [adding, setAdding] = useState(false);

  const columns = useMemo<Column<StoreView>[]>(() => {
    const cols: Column<StoreView>[] = [
      { key: 'name', label: 'Name', value: (s) => s.name, render: (s) => <strong>{s.name}</strong> },
      { key: 'provider', label: 'Provider', value: (s) => s.provider },
      { key: 'where', label: 'Location', value: where, render: (s) => <code>{where(s)}</code>, wrap: true },
      { key: 'region', label: 'Region', value: (s) => s.region ?? '—' },
      { key: 'key', label: 'Access key', value: (s) => s.accessKeyId ?? '—' },
      {
        key: 'secret',
        label: 'Secret key',
        value: (s) => (s.hasSecretKey ? 'set' : 'none'),
        render: (s) =>
          s.hasSecretKey ? <Badge tone="info">set (hidden)</Badge> : <span class="muted">none</span>,
      },
      {
        key: 'enc',
        label: 'Encryption',
        value: (s) => s.encryption,
        render: (s) => <Badge tone={s.encryption === 'none' ? 'plain' : 'ok'}>{s.encryption}</Badge>,
      },
      { key: 'tags', label: 'Tags', value: (s) => tagText(s.tags) || '—', wrap: true },
      {
        key: 'created',
        label: 'Registered',
        value: (s) => s.createdAt,
        render: (s) => <span title={formatTime(s.createdAt)}>{formatTime(s.createdAt).slice(0, 10)}</span>,
      },
    ];
    if (canDelete)
      cols.push({
        key: 'actions',
        label: '',
        value: () => null,
        align: 'right',
        noSort: true,
        noFilter: true,
        render: (s) => (
          <ConfirmButton
            label="Delete"
            ariaLabel={`Delete ${s.name}`}
            title={`Delete object store ${s.name}?`}
            confirmLabel="Delete store"
            onConfirm={async () => {
              await api.removeStore(s.name);
              void stores.reload();
            }}
          >
            <p>
              The registration of <strong>{s.name}</strong> is removed from the manager, with its sealed keys.
              The objects in the store are left alone.
            </p>
          </ConfirmButton>
        ),
      });
    return cols;
  }, [api, canDelete, stores.reload]);

  return (
    <section>
      <PageHeader title="Object stores">
        {canAdd && !adding && (
          <button type="button" class="primary" onClick={() => setAdding(true)}>
            Add object store
          </button>
        )}
      </PageHeader>
      {canAdd && adding && (
        <AddStoreForm
          onCancel={() => setAdding(false)}
          onAdded={() => {
            setAdding(false);
            void stores.reload();
          }}
        />
      )}
      <LoadState loading={stores.loading && !stores.data} error={stores.error} what="object stores" />
      {stores.data && (
        <DataTable
          label="Object stores"
          rows={stores.data}
          columns={columns}
          rowKey={(s) => s.name}
          noun={['store', 'stores']}
          empty="No object stores registered. Backups need one."
        />
      )}
    </section>
  );
}

const EMPTY = {
  provider: 'directory',
  name: '',
  path: '',
  endpoint: '',
  region: '',
  bucket: '',
  accessKeyId: '',
  secretAccessKey: '',
  encryption: 'none',
  encryptionKey: '',
  tags: '',
};

/** "team=storage, env=prod" (or one per line) -> { team: 'storage', env: 'prod' }. */
export function parseTags(text: string): Record<string, string> | string {
  const tags: Record<string, string> = {};
  for (const part of text.split(/[\n,]/)) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    if (eq <= 0) return `tag "${t}" is not key=value`;
    tags[t.slice(0, eq).trim()] = t.slice(eq + 1).trim();
  }
  return tags;
}

function AddStoreForm({ onAdded, onCancel }: { onAdded: () => void; onCancel: () => void }) {
  const { api } = useApp();
  const f = useFields(EMPTY);
  const v = f.values;
  const s3 = v.provider === 's3';
  const select = (key: 'provider' | 'encryption') => ({
    value: v[key],
    onChange: (e: Event) => {
      const value = (e.currentTarget as HTMLSelectElement).value;
      f.set((s) => ({ ...s, [key]: value }));
    },
  });

  return (
    <Form
      title="Register an object store"
      submitLabel="Add store"
      onCancel={onCancel}
      validate={() => {
        const tags = parseTags(v.tags);
        return typeof tags === 'string' ? tags : null;
      }}
      onSubmit={async () => {
        const opt = (x: string) => (x.trim() ? x.trim() : undefined);
        await api.addStore({
          name: v.name.trim(),
          provider: s3 ? 's3' : 'directory',
          ...(s3
            ? {
                endpoint: opt(v.endpoint),
                region: opt(v.region),
                bucket: opt(v.bucket),
                accessKeyId: opt(v.accessKeyId),
                secretAccessKey: v.secretAccessKey || undefined,
              }
            : { path: opt(v.path), region: opt(v.region) }),
          encryption: v.encryption === 'aes-256-gcm' ? 'aes-256-gcm' : 'none',
          ...(v.encryption === 'aes-256-gcm' ? { encryptionKey: v.encryptionKey.trim() } : {}),
          tags: parseTags(v.tags) as Record<string, string>,
        });
        f.reset(); // the secrets leave the page with the answer
        onAdded();
      }}
    >
      <Field label="Provider" name="provider">
        <select name="provider" {...select('provider')}>
          <option value="directory">Directory (a local or mounted path)</option>
          <option value="s3">S3-compatible service</option>
        </select>
      </Field>
      <Field label="Name" name="name" hint="How backups and restores refer to it.">
        <input name="name" required autocomplete="off" {...f.bind('name')} />
      </Field>
      {!s3 && (
        <Field label="Path" name="path" hint="On the nodes that back up to it." wide>
          <input name="path" required autocomplete="off" placeholder="/mnt/backup" {...f.bind('path')} />
        </Field>
      )}
      {s3 && (
        <Field label="Endpoint" name="endpoint" hint="Empty for AWS S3." wide>
          <input
            name="endpoint"
            autocomplete="off"
            placeholder="https://s3.example.net"
            {...f.bind('endpoint')}
          />
        </Field>
      )}
      <Field
        label="Region"
        name="region"
        hint={s3 ? 'us-east-1 when empty.' : 'Where it may be used (optional).'}
      >
        <input name="region" autocomplete="off" {...f.bind('region')} />
      </Field>
      {s3 && (
        <>
          <Field label="Bucket" name="bucket" hint="Set automatically when left empty.">
            <input name="bucket" autocomplete="off" {...f.bind('bucket')} />
          </Field>
          <Field label="Access key ID" name="accessKeyId">
            <input name="accessKeyId" autocomplete="off" {...f.bind('accessKeyId')} />
          </Field>
          <Field label="Secret key" name="secretAccessKey" hint="Sealed by the manager; never shown again.">
            <input
              name="secretAccessKey"
              type="password"
              autocomplete="new-password"
              {...f.bind('secretAccessKey')}
            />
          </Field>
        </>
      )}
      <Field label="Encryption" name="encryption" hint="Backups encrypted on the node before they leave it.">
        <select name="encryption" {...select('encryption')}>
          <option value="none">none</option>
          <option value="aes-256-gcm">aes-256-gcm</option>
        </select>
      </Field>
      {v.encryption === 'aes-256-gcm' && (
        <Field
          label="Encryption key"
          name="encryptionKey"
          hint="64 hex digits (openssl rand -hex 32). Keep a copy off-site: restoring needs it."
          wide
        >
          <input
            name="encryptionKey"
            type="password"
            autocomplete="new-password"
            {...f.bind('encryptionKey')}
          />
        </Field>
      )}
      <Field label="Tags" name="tags" hint="key=value, separated by commas." wide>
        <input name="tags" autocomplete="off" placeholder="team=storage, env=prod" {...f.bind('tags')} />
      </Field>
    </Form>
  );
}
