/**
 * Restore (SPEC Fig. 16, 32): pick the store, the source volume (every lineage with
 * generations there, restored secondary volumes' backups included: they carry the
 * lineage they inherited, and the source and its versions name the restored volume that
 * wrote them, S901), the version, and the destination: a new volume on a node, or
 * an existing one overwritten. The job page follows the restore. A link from a
 * generation fills the form in (?store=&source=&generation=).
 */
import { useMemo, useState } from 'preact/hooks';
import type { GenerationView } from '../api/client.js';
import { Field, Form } from '../components/form.js';
import { formatBytes, formatTime, plural } from '../components/format.js';
import { LoadState, PageHeader } from '../components/page.js';
import { useLoad } from '../components/use-load.js';
import { useApp } from '../context.js';
import { navigate, useLocation } from '../router.js';
import { jobHref } from './jobs.js';

interface Source {
  uniqueId: string;
  names: string[];
  /** Restored volumes of the lineage that wrote generations of it (a secondary's N+1). */
  restored: string[];
  generations: GenerationView[];
}

function sourcesOf(gens: GenerationView[]): Source[] {
  const by = new Map<string, Source>();
  for (const g of gens) {
    const s = by.get(g.uniqueId) ?? { uniqueId: g.uniqueId, names: [], restored: [], generations: [] };
    if (!s.names.includes(g.volumeName)) s.names.push(g.volumeName);
    if (g.writtenBy !== g.uniqueId && !s.restored.includes(g.writtenBy)) s.restored.push(g.writtenBy);
    s.generations.push(g);
    by.set(g.uniqueId, s);
  }
  for (const s of by.values()) s.generations.sort((a, b) => b.time.localeCompare(a.time));
  return [...by.values()].sort((a, b) => a.names[0].localeCompare(b.names[0]));
}

export function RestorePage() {
  const { api } = useApp();
  const { query } = useLocation();
  const stores = useLoad((a) => a.listStores(), []);
  const nodes = useLoad((a) => a.listNodes(), []);
  const volumes = useLoad((a) => a.listVolumes(), []);
  const [store, setStore] = useState(query.get('store') ?? '');
  const chosenStore = store || stores.data?.[0]?.name || '';
  const gens = useLoad(
    (a) => (chosenStore ? a.listGenerations(chosenStore) : Promise.resolve([])),
    [chosenStore],
  );
  const sources = useMemo(() => sourcesOf(gens.data ?? []), [gens.data]);
  const [source, setSource] = useState(query.get('source') ?? '');
  const src = sources.find((s) => s.uniqueId === source) ?? sources[0];
  const [generation, setGeneration] = useState(query.get('generation') ?? '');
  const gen = src?.generations.find((g) => g.key === generation) ?? src?.generations[0];
  const [node, setNode] = useState('');
  const chosenNode = node || nodes.data?.find((n) => n.health === 'ok')?.name || '';
  const [mode, setMode] = useState<'new' | 'existing'>('new');
  const [name, setName] = useState('');
  const onNode = (volumes.data ?? []).filter((v) => v.node === chosenNode);
  const [existing, setExisting] = useState('');
  const target = mode === 'new' ? name.trim() || gen?.volumeName || '' : existing || onNode[0]?.name || '';

  return (
    <section>
      <PageHeader title="Restore" />
      <LoadState loading={stores.loading && !stores.data} error={stores.error ?? gens.error} what="stores" />
      <Form
        title="Restore a generation"
        submitLabel="Start restore"
        validate={() => {
          if (!gen) return 'Pick a version: this store holds no generation yet.';
          if (!chosenNode) return 'Pick a destination node.';
          if (!target) return 'Name the destination volume.';
          return null;
        }}
        onSubmit={async () => {
          const job = await api.restore({
            store: chosenStore,
            generation: gen!.key,
            node: chosenNode,
            volume: target,
            ...(mode === 'existing' ? { overwrite: true } : {}),
          });
          navigate(jobHref(job.id));
        }}
      >
        <Field label="Store" name="store">
          <select name="store" value={chosenStore} onChange={(e) => setStore(e.currentTarget.value)}>
            {(stores.data ?? []).map((s) => (
              <option key={s.name}>{s.name}</option>
            ))}
          </select>
        </Field>
        <Field
          label="Source volume"
          name="source"
          hint={gens.loading ? 'Reading the store…' : `${plural(sources.length, 'volume')} with backups here`}
        >
          <select
            name="source"
            value={src?.uniqueId ?? ''}
            onChange={(e) => setSource(e.currentTarget.value)}
          >
            {sources.map((s) => (
              <option key={s.uniqueId} value={s.uniqueId}>
                {s.names.join(', ')} ({s.uniqueId})
                {s.restored.length > 0 ? ` · also from restored ${s.restored.join(', ')}` : ''}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Version" name="generation" wide>
          <select
            name="generation"
            value={gen?.key ?? ''}
            onChange={(e) => setGeneration(e.currentTarget.value)}
          >
            {(src?.generations ?? []).map((g) => (
              <option key={g.key} value={g.key}>
                #{g.generation} {formatTime(g.time)} · {g.method} · {formatBytes(g.storedBytes)} stored
                {g.writtenBy !== g.uniqueId ? ` · from restored ${g.writtenBy}` : ''}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Destination node" name="node">
          <select name="node" value={chosenNode} onChange={(e) => setNode(e.currentTarget.value)}>
            {(nodes.data ?? []).map((n) => (
              <option key={n.name} value={n.name} disabled={n.health !== 'ok'}>
                {n.name} ({n.site}){n.health === 'ok' ? '' : ' — unreachable'}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Destination" name="overwrite">
          <select
            name="mode"
            value={mode}
            onChange={(e) => setMode(e.currentTarget.value as 'new' | 'existing')}
          >
            <option value="new">a new volume</option>
            <option value="existing">an existing volume, overwritten</option>
          </select>
        </Field>
        {mode === 'new' ? (
          <Field
            label="New volume name"
            name="volume"
            hint={`Made in the node's pool. Empty: ${gen?.volumeName ?? 'the source name'}.`}
          >
            <input
              name="volume"
              autocomplete="off"
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
            />
          </Field>
        ) : (
          <Field
            label="Volume to overwrite"
            name="volume"
            hint="Everything on it is replaced by the version."
          >
            <select name="volume" value={target} onChange={(e) => setExisting(e.currentTarget.value)}>
              {onNode.map((v) => (
                <option key={v.uniqueId} value={v.name}>
                  {v.name} ({v.uniqueId}, {formatBytes(v.sizeBytes)})
                </option>
              ))}
            </select>
          </Field>
        )}
      </Form>
    </section>
  );
}
