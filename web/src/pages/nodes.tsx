/**
 * Sites and nodes: the primary and secondary sites, and the storage nodes in them with
 * their health as the manager's poller last saw it (refreshed here every 10 s). Admins
 * add sites and register nodes (by API URL and token, which the manager seals); an
 * operator asks a node for its health now, and starts a secondary site's node again after
 * it stopped (a job: the failover's build step, on the same data and ports).
 */
import { useMemo, useState } from 'preact/hooks';
import type { ApiError, NodeView, SiteView } from '../api/client.js';
import { ConfirmButton } from '../components/confirm.js';
import { Field, Form, useFields } from '../components/form.js';
import { ago, formatTime } from '../components/format.js';
import { Badge, ErrorNote, Health, LoadState, PageHeader } from '../components/page.js';
import { type Column, DataTable } from '../components/table.js';
import { toApiError, useLoad } from '../components/use-load.js';
import { useApp, useCan } from '../context.js';
import { navigate } from '../router.js';
import { jobHref } from './jobs.js';

export function NodesPage() {
  const { api } = useApp();
  const canAddSite = useCan('POST /v1/sites');
  const canRemoveSite = useCan('DELETE /v1/sites/:site');
  const canStartSite = useCan('POST /v1/sites/:site/start');
  const canRegister = useCan('POST /v1/nodes');
  const canRemoveNode = useCan('DELETE /v1/nodes/:node');
  const canCheck = useCan('POST /v1/nodes/:node/check');
  const data = useLoad(async (a) => ({ sites: await a.listSites(), nodes: await a.listNodes() }), [], {
    refreshMs: 10_000,
  });
  const [form, setForm] = useState<'site' | 'node' | null>(null);
  const [checkError, setCheckError] = useState<ApiError | null>(null);
  const [startError, setStartError] = useState<ApiError | null>(null);
  const reload = data.reload;
  // Sites with a node the poller cannot reach: only their node may need starting again.
  const nodes = data.data?.nodes;
  const downSites = useMemo(
    () => new Set((nodes ?? []).filter((n) => n.health === 'unreachable').map((n) => n.site)),
    [nodes],
  );

  const siteColumns = useMemo<Column<SiteView>[]>(() => {
    const cols: Column<SiteView>[] = [
      { key: 'name', label: 'Site', value: (s) => s.name, render: (s) => <strong>{s.name}</strong> },
      {
        key: 'role',
        label: 'Role',
        value: (s) => s.role,
        render: (s) => <Badge tone={s.role === 'primary' ? 'info' : 'plain'}>{s.role}</Badge>,
      },
      { key: 'nodes', label: 'Nodes', value: (s) => s.nodes.join(', ') || '—' },
      { key: 'created', label: 'Added', value: (s) => s.createdAt, render: (s) => formatTime(s.createdAt) },
    ];
    if (canRemoveSite || canStartSite)
      cols.push({
        key: 'actions',
        label: '',
        value: () => null,
        align: 'right',
        noSort: true,
        noFilter: true,
        render: (s) => (
          <span class="row-actions">
            {/* A secondary with a node was built by a failover: its node can be started again once it stopped answering. */}
            {canStartSite && s.role === 'secondary' && downSites.has(s.name) && (
              <button
                type="button"
                class="small"
                aria-label={`Start the node of site ${s.name}`}
                title="Start the site's node again after a crash or a reboot (same data and ports)"
                onClick={async () => {
                  setStartError(null);
                  try {
                    navigate(jobHref((await api.startSite(s.name)).id));
                  } catch (err) {
                    setStartError(toApiError(err));
                  }
                }}
              >
                Start node
              </button>
            )}
            {canRemoveSite && (
              <ConfirmButton
                label="Remove"
                ariaLabel={`Remove site ${s.name}`}
                title={`Remove site ${s.name}?`}
                confirmLabel="Remove site"
                onConfirm={async () => {
                  await api.removeSite(s.name);
                  void reload();
                }}
              >
                <p>The site is removed from the manager's registry.</p>
              </ConfirmButton>
            )}
          </span>
        ),
      });
    return cols;
  }, [api, canRemoveSite, canStartSite, reload, downSites]);

  const nodeColumns = useMemo<Column<NodeView>[]>(() => {
    const cols: Column<NodeView>[] = [
      { key: 'name', label: 'Node', value: (n) => n.name, render: (n) => <strong>{n.name}</strong> },
      { key: 'site', label: 'Site', value: (n) => n.site },
      {
        key: 'health',
        label: 'Health',
        value: (n) => n.health,
        render: (n) => (
          <>
            <Health health={n.health} reason={n.healthReason} />
            {n.healthReason && <div class="muted small">{n.healthReason}</div>}
          </>
        ),
      },
      {
        key: 'seen',
        label: 'Last seen',
        value: (n) => n.lastSeenAt,
        render: (n) => <span title={formatTime(n.lastSeenAt)}>{ago(n.lastSeenAt)}</span>,
        noFilter: true,
      },
      {
        key: 'changed',
        label: 'Health since',
        value: (n) => n.healthChangedAt,
        render: (n) => formatTime(n.healthChangedAt),
        noFilter: true,
      },
      { key: 'serial', label: 'Serial', value: (n) => n.serial, render: (n) => <code>{n.serial}</code> },
      { key: 'volumes', label: 'Volumes', value: (n) => n.volumes, align: 'right' },
      {
        key: 'url',
        label: 'API',
        value: (n) => n.apiUrl,
        render: (n) => <code class="small">{n.apiUrl}</code>,
      },
    ];
    if (canCheck || canRemoveNode)
      cols.push({
        key: 'actions',
        label: '',
        value: () => null,
        align: 'right',
        noSort: true,
        noFilter: true,
        render: (n) => (
          <span class="row-actions">
            {canCheck && (
              <button
                type="button"
                class="small"
                aria-label={`Check ${n.name} now`}
                onClick={async () => {
                  setCheckError(null);
                  try {
                    await api.checkNode(n.name);
                  } catch (err) {
                    setCheckError(toApiError(err));
                  }
                  void reload();
                }}
              >
                Check now
              </button>
            )}
            {canRemoveNode && (
              <ConfirmButton
                label="Remove"
                ariaLabel={`Remove node ${n.name}`}
                title={`Remove node ${n.name}?`}
                confirmLabel="Remove node"
                onConfirm={async () => {
                  await api.removeNode(n.name);
                  void reload();
                }}
              >
                <p>
                  The node leaves the manager's registry with its {n.volumes} volumes' records. The node
                  itself and its volumes are left alone; register it again to manage it.
                </p>
              </ConfirmButton>
            )}
          </span>
        ),
      });
    return cols;
  }, [api, canCheck, canRemoveNode, reload]);

  const sites = data.data?.sites ?? [];
  return (
    <section>
      <PageHeader title="Sites and nodes">
        {canAddSite && form === null && (
          <button type="button" onClick={() => setForm('site')}>
            Add site
          </button>
        )}
        {canRegister && form === null && (
          <button type="button" class="primary" onClick={() => setForm('node')}>
            Register node
          </button>
        )}
      </PageHeader>
      {canAddSite && form === 'site' && (
        <AddSiteForm
          onCancel={() => setForm(null)}
          onDone={() => {
            setForm(null);
            void reload();
          }}
        />
      )}
      {canRegister && form === 'node' && (
        <RegisterNodeForm
          sites={sites}
          onCancel={() => setForm(null)}
          onDone={() => {
            setForm(null);
            void reload();
          }}
        />
      )}
      <LoadState loading={data.loading && !data.data} error={data.error} what="sites and nodes" />
      {data.data && (
        <>
          <h2 class="section-title">Nodes</h2>
          {checkError && <ErrorNote error={checkError} context="Check failed" />}
          <DataTable
            label="Nodes"
            rows={data.data.nodes}
            columns={nodeColumns}
            rowKey={(n) => n.name}
            noun={['node', 'nodes']}
            empty="No nodes registered. An admin registers one by its API URL and token (node.json)."
          />
          <h2 class="section-title">Sites</h2>
          {startError && <ErrorNote error={startError} context="Start failed" />}
          <DataTable
            label="Sites"
            rows={sites}
            columns={siteColumns}
            rowKey={(s) => s.name}
            noun={['site', 'sites']}
            empty="No sites yet. Nodes belong to a site: add the primary site first."
            filter={false}
          />
        </>
      )}
    </section>
  );
}

function AddSiteForm({ onDone, onCancel }: { onDone: () => void; onCancel: () => void }) {
  const { api } = useApp();
  const f = useFields({ name: '', role: 'primary' });
  return (
    <Form
      title="Add a site"
      submitLabel="Add site"
      onCancel={onCancel}
      onSubmit={async () => {
        await api.addSite({
          name: f.values.name.trim(),
          role: f.values.role === 'secondary' ? 'secondary' : 'primary',
        });
        onDone();
      }}
    >
      <Field label="Name" name="name">
        <input name="name" required autocomplete="off" {...f.bind('name')} />
      </Field>
      <Field label="Role" name="role">
        <select
          name="role"
          value={f.values.role}
          onChange={(e) => f.set((s) => ({ ...s, role: e.currentTarget.value }))}
        >
          <option value="primary">primary</option>
          <option value="secondary">secondary</option>
        </select>
      </Field>
    </Form>
  );
}

function RegisterNodeForm({
  sites,
  onDone,
  onCancel,
}: {
  sites: SiteView[];
  onDone: () => void;
  onCancel: () => void;
}) {
  const { api } = useApp();
  const f = useFields({ name: '', site: '', url: '', token: '' });
  const site = f.values.site || sites[0]?.name || '';
  return (
    <Form
      title="Register a node"
      submitLabel="Register node"
      onCancel={onCancel}
      validate={() => (site ? null : 'Add a site first: every node belongs to one.')}
      onSubmit={async () => {
        await api.registerNode({
          name: f.values.name.trim(),
          site,
          url: f.values.url.trim(),
          token: f.values.token.trim(),
        });
        onDone();
      }}
    >
      <Field label="Name" name="name">
        <input name="name" required autocomplete="off" {...f.bind('name')} />
      </Field>
      <Field label="Site" name="site">
        <select
          name="site"
          value={site}
          onChange={(e) => f.set((s) => ({ ...s, site: e.currentTarget.value }))}
        >
          {sites.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name} ({s.role})
            </option>
          ))}
        </select>
      </Field>
      <Field label="API URL" name="url" hint="The node's control API, as rebound node run prints it." wide>
        <input name="url" required autocomplete="off" placeholder="http://10.0.0.5:7700" {...f.bind('url')} />
      </Field>
      <Field label="API token" name="token" hint="From the node's node.json; sealed by the manager." wide>
        <input name="token" type="password" required autocomplete="off" {...f.bind('token')} />
      </Field>
    </Form>
  );
}
