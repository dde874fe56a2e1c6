/**
 * The failover wizard (SPEC Fig. 15, S101-S108): 1. the secondary site, the store and
 * the volumes (checked in a table that stays fast at 1,000 rows); 2. a generation per
 * volume, the newest by default; 3. a summary, and start. The job page follows it.
 * The site is built by its provider (the local one when the site is new).
 */
import { useMemo, useState } from 'preact/hooks';
import type { GenerationView, VolumeView } from '../api/client.js';
import { Field, Form } from '../components/form.js';
import { ago, formatBytes, formatTime } from '../components/format.js';
import { LoadState, PageHeader } from '../components/page.js';
import { type Column, DataTable } from '../components/table.js';
import { useLoad } from '../components/use-load.js';
import { useApp } from '../context.js';
import { Link, navigate } from '../router.js';
import { jobHref } from './jobs.js';

export function FailoverPage() {
  const { api } = useApp();
  const base = useLoad(async (a) => {
    const [sites, stores, volumes, dr] = await Promise.all([
      a.listSites(),
      a.listStores(),
      a.listVolumes(),
      a.drStatus(),
    ]);
    const primary = new Set(sites.filter((s) => s.role === 'primary').map((s) => s.name));
    const away = new Set(dr.filter((d) => d.active === 'secondary').map((d) => d.lineage));
    return {
      secondarySites: sites.filter((s) => s.role === 'secondary').map((s) => s.name),
      stores,
      // Volumes at a primary site that are not already failed over.
      volumes: volumes.filter((v) => primary.has(v.site) && !away.has(v.inheritedUniqueId ?? v.uniqueId)),
    };
  }, []);
  const b = base.data;
  const [step, setStep] = useState<1 | 2>(1);
  const [site, setSite] = useState('');
  const chosenSite = site || b?.secondarySites[0] || 'dr';
  const [store, setStore] = useState('');
  const chosenStore = store || b?.stores[0]?.name || '';
  const [checked, setChecked] = useState<Set<string>>(new Set());
  const [picked, setPicked] = useState<Record<string, string>>({});
  const selected = (b?.volumes ?? []).filter((v) => checked.has(v.uniqueId));

  const toggle = (id: string) =>
    setChecked((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const columns = useMemo<Column<VolumeView>[]>(
    () => [
      {
        key: 'pick',
        label: '',
        width: '6%',
        value: () => null,
        noSort: true,
        noFilter: true,
        render: (v) => (
          <input
            type="checkbox"
            aria-label={`Fail over ${v.name}`}
            checked={checked.has(v.uniqueId)}
            onChange={() => toggle(v.uniqueId)}
          />
        ),
      },
      { key: 'name', label: 'Volume', width: '24%', value: (v) => v.name },
      {
        key: 'uid',
        label: 'Unique ID',
        width: '20%',
        value: (v) => v.uniqueId,
        render: (v) => <code>{v.uniqueId}</code>,
      },
      { key: 'node', label: 'Node', width: '20%', value: (v) => `${v.node} · ${v.site}` },
      {
        key: 'backup',
        label: 'Last backup',
        width: '20%',
        value: (v) => v.lastBackupAt,
        render: (v) =>
          v.lastBackupAt ? ago(v.lastBackupAt) : <span class="muted">never: cannot fail over</span>,
        noFilter: true,
      },
    ],
    [checked],
  );

  return (
    <section>
      <p class="crumbs">
        <Link href="/dr">Disaster recovery</Link> /
      </p>
      <PageHeader title="Fail over" />
      <ol class="wizard-steps">
        <li class={step === 1 ? 'current' : undefined}>1. Site, store and volumes</li>
        <li class={step === 2 ? 'current' : undefined}>2. Generations, and start</li>
      </ol>
      <LoadState loading={base.loading && !b} error={base.error} what="volumes and stores" />
      {b && step === 1 && (
        <Form
          title="1. Where to, from which store, which volumes"
          submitLabel="Next: generations"
          validate={() =>
            !chosenStore
              ? 'Register an object store first.'
              : selected.length === 0
                ? 'Check at least one volume.'
                : null
          }
          onSubmit={async () => setStep(2)}
        >
          <Field
            label="Secondary site"
            name="site"
            hint="A new name makes a new site, built by the local provider."
          >
            <input
              name="site"
              list="secondary-sites"
              value={chosenSite}
              onInput={(e) => setSite(e.currentTarget.value)}
            />
          </Field>
          <datalist id="secondary-sites">
            {b.secondarySites.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
          <Field label="Store" name="store" hint="The backups are restored from here (S105).">
            <select name="store" value={chosenStore} onChange={(e) => setStore(e.currentTarget.value)}>
              {b.stores.map((s) => (
                <option key={s.name}>{s.name}</option>
              ))}
            </select>
          </Field>
          <div class="field wide">
            <span class="field-label">Volumes ({selected.length} checked)</span>
            <DataTable
              label="Volumes to fail over"
              rows={b.volumes}
              columns={columns}
              rowKey={(v) => v.uniqueId}
              noun={['volume', 'volumes']}
              empty="No volume at a primary site that is not already failed over."
            />
          </div>
        </Form>
      )}
      {b && step === 2 && (
        <Form
          title={`2. Generations: ${selected.length} volumes to ${chosenSite}`}
          submitLabel="Start failover"
          onCancel={() => setStep(1)}
          onSubmit={async () => {
            const job = await api.failover({
              site: chosenSite,
              store: chosenStore,
              volumes: selected.map((v) =>
                picked[v.uniqueId] ? { volume: v.uniqueId, generation: picked[v.uniqueId] } : v.uniqueId,
              ),
            });
            navigate(jobHref(job.id));
          }}
        >
          {selected.map((v) => (
            <GenerationPick
              key={v.uniqueId}
              volume={v}
              store={chosenStore}
              value={picked[v.uniqueId] ?? ''}
              onPick={(key) => setPicked((p) => ({ ...p, [v.uniqueId]: key }))}
            />
          ))}
        </Form>
      )}
    </section>
  );
}

function GenerationPick({
  volume,
  store,
  value,
  onPick,
}: {
  volume: VolumeView;
  store: string;
  value: string;
  onPick: (key: string) => void;
}) {
  const gens = useLoad(
    (a) => a.listGenerations(store, { volume: volume.uniqueId }),
    [store, volume.uniqueId],
  );
  const list = [...(gens.data ?? [])].sort((a: GenerationView, b: GenerationView) =>
    b.time.localeCompare(a.time),
  );
  return (
    <Field
      label={`${volume.name} (${volume.uniqueId})`}
      name="volumes"
      hint={
        gens.error
          ? gens.error.message
          : list.length === 0 && gens.data
            ? `no generation in ${store}`
            : undefined
      }
    >
      <select
        name={`generation-${volume.uniqueId}`}
        value={value}
        onChange={(e) => onPick(e.currentTarget.value)}
      >
        <option value="">
          newest{list[0] ? ` (#${list[0].generation}, ${formatTime(list[0].time)})` : ''}
        </option>
        {list.map((g) => (
          <option key={g.key} value={g.key}>
            #{g.generation} {formatTime(g.time)} · {g.method} · {formatBytes(g.storedBytes)}
          </option>
        ))}
      </select>
    </Field>
  );
}
