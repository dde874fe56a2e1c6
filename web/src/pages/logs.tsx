/**
 * The event log (operations and errors, for everyone) and the audit log (who changed
 * what, and every refusal; admins only). Newest first, 100 at a time: "Load older" walks
 * back with the answer's `nextBefore`.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ApiError, AuditView, EventView, PageOptions } from '../api/client.js';
import { formatTime } from '../components/format.js';
import { Badge, ErrorNote, PageHeader } from '../components/page.js';
import { type Column, DataTable } from '../components/table.js';
import { toApiError } from '../components/use-load.js';
import { useApp, useCan } from '../context.js';
import { navigate, useLocation } from '../router.js';

const PAGE = 100;

/** `/v1/volumes/6F9B76D7%3A1` as `/v1/volumes/6F9B76D7:1`; the raw path stays in the tooltip. */
function readablePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

const eventColumns: Column<EventView>[] = [
  {
    key: 'at',
    label: 'Time',
    value: (e) => e.id,
    render: (e) => <span title={e.at}>{formatTime(e.at)}</span>,
    noFilter: true,
  },
  {
    key: 'level',
    label: 'Level',
    value: (e) => e.level,
    render: (e) => (
      <Badge tone={e.level === 'error' ? 'bad' : e.level === 'warning' ? 'warn' : 'plain'}>{e.level}</Badge>
    ),
  },
  { key: 'kind', label: 'Kind', value: (e) => e.kind, render: (e) => <code>{e.kind}</code> },
  { key: 'subject', label: 'Subject', value: (e) => e.subject ?? '—' },
  { key: 'message', label: 'Message', value: (e) => e.message, wrap: true },
];

const auditColumns: Column<AuditView>[] = [
  {
    key: 'at',
    label: 'Time',
    value: (a) => a.id,
    render: (a) => <span title={a.at}>{formatTime(a.at)}</span>,
    noFilter: true,
  },
  { key: 'actor', label: 'User', value: (a) => a.actor ?? '(no token)' },
  { key: 'role', label: 'Role', value: (a) => a.role ?? '—' },
  { key: 'method', label: 'Method', value: (a) => a.method, render: (a) => <code>{a.method}</code> },
  {
    key: 'path',
    label: 'Path',
    value: (a) => readablePath(a.path),
    render: (a) => <code title={a.path}>{readablePath(a.path)}</code>,
  },
  {
    key: 'status',
    label: 'Status',
    value: (a) => a.status,
    render: (a) => (
      <Badge tone={a.status >= 400 ? (a.status === 403 ? 'warn' : 'bad') : 'ok'}>{a.status}</Badge>
    ),
    align: 'right',
  },
  { key: 'ip', label: 'From', value: (a) => a.ip ?? '—' },
];

interface Paged<T> {
  items: T[] | null;
  next: number | null;
  error: ApiError | null;
  busy: boolean;
  refresh(): Promise<void>;
  older(): Promise<void>;
}

/** One log, paged back from the newest. */
function usePaged<T>(
  fetchPage: (p: PageOptions) => Promise<{ items: T[]; nextBefore: number | null }>,
): Paged<T> {
  const [items, setItems] = useState<T[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const load = async (before: number | null) => {
    setBusy(true);
    setError(null);
    try {
      const page = await fetchPage({ limit: PAGE, before });
      setItems((old) => (before === null || !old ? page.items : [...old, ...page.items]));
      setNext(page.nextBefore);
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    void load(null);
  }, []);
  return {
    items,
    next,
    error,
    busy,
    refresh: () => load(null),
    older: async () => {
      if (next !== null) await load(next);
    },
  };
}

export function LogsPage() {
  const canAudit = useCan('GET /v1/audit');
  const { query } = useLocation();
  const which = canAudit && query.get('log') === 'audit' ? 'audit' : 'events';

  return (
    <section>
      <PageHeader title="Logs" />
      {canAudit && (
        <div class="tabs" role="tablist">
          <button
            type="button"
            role="tab"
            data-safe
            aria-selected={which === 'events'}
            class={which === 'events' ? 'tab active' : 'tab'}
            onClick={() => navigate('/logs')}
          >
            Events
          </button>
          <button
            type="button"
            role="tab"
            data-safe
            aria-selected={which === 'audit'}
            class={which === 'audit' ? 'tab active' : 'tab'}
            onClick={() => navigate('/logs?log=audit')}
          >
            Audit
          </button>
        </div>
      )}
      {which === 'audit' ? <AuditLog /> : <EventLog />}
    </section>
  );
}

function EventLog() {
  const { api } = useApp();
  const log = usePaged((p) => api.events(p));
  return (
    <LogView
      log={log}
      what="event"
      intro="What the manager did and saw: registrations, health changes, errors."
      table={(rows) => (
        <DataTable
          label="Event log"
          rows={rows}
          columns={eventColumns}
          rowKey={(e) => String(e.id)}
          noun={['event', 'events']}
          initialSort={{ key: 'at', desc: true }}
          empty="No events yet."
        />
      )}
    />
  );
}

function AuditLog() {
  const { api } = useApp();
  const log = usePaged((p) => api.audit(p));
  return (
    <LogView
      log={log}
      what="audit"
      intro="Every call that changed something, and every refusal of a role: who, when, what, and how it ended."
      table={(rows) => (
        <DataTable
          label="Audit log"
          rows={rows}
          columns={auditColumns}
          rowKey={(a) => String(a.id)}
          noun={['entry', 'entries']}
          initialSort={{ key: 'at', desc: true }}
          empty="No changes recorded yet."
        />
      )}
    />
  );
}

function LogView<T>({
  log,
  what,
  intro,
  table,
}: {
  log: Paged<T>;
  what: string;
  intro: string;
  table: (rows: T[]) => ComponentChildren;
}) {
  return (
    <>
      <div class="log-bar">
        <p class="muted">{intro}</p>
        <button type="button" data-safe onClick={() => void log.refresh()} disabled={log.busy}>
          Refresh
        </button>
      </div>
      {log.error && <ErrorNote error={log.error} context={`Could not load the ${what} log`} />}
      {!log.items && !log.error && <p class="muted loading">Loading…</p>}
      {log.items && table(log.items)}
      {log.next !== null && (
        <p>
          <button type="button" data-safe onClick={() => void log.older()} disabled={log.busy}>
            Load older
          </button>
        </p>
      )}
    </>
  );
}
