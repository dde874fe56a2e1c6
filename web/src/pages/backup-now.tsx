/** One backup of a volume now (POST /v1/backups): a store and a method; the job page follows it. */
import { useState } from 'preact/hooks';
import type { ApiError } from '../api/client.js';
import { ErrorNote } from '../components/page.js';
import { toApiError, useLoad } from '../components/use-load.js';
import { useApp } from '../context.js';
import { navigate } from '../router.js';
import { jobHref } from './jobs.js';

export function BackupNowForm({ volume }: { volume: string }) {
  const { api } = useApp();
  const stores = useLoad((a) => a.listStores(), []);
  const [store, setStore] = useState('');
  const [method, setMethod] = useState<'full' | 'incremental' | 'differential'>('incremental');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const chosen = store || stores.data?.[0]?.name || '';
  return (
    <form
      class="inline-form"
      aria-label="Back up now"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          navigate(jobHref((await api.backup({ volume, store: chosen, method })).id));
        } catch (err) {
          setError(toApiError(err));
          setBusy(false);
        }
      }}
    >
      <select aria-label="Backup store" value={chosen} onChange={(e) => setStore(e.currentTarget.value)}>
        {!stores.data?.length && <option value="">no store</option>}
        {(stores.data ?? []).map((s) => (
          <option key={s.name}>{s.name}</option>
        ))}
      </select>
      <select
        aria-label="Backup method"
        value={method}
        onChange={(e) => setMethod(e.currentTarget.value as typeof method)}
      >
        <option value="full">full</option>
        <option value="incremental">incremental</option>
        <option value="differential">differential</option>
      </select>
      <button type="submit" class="primary small" disabled={busy || !chosen}>
        {busy ? 'Starting…' : 'Back up now'}
      </button>
      {error && <ErrorNote error={error} context="Backup" />}
    </form>
  );
}
