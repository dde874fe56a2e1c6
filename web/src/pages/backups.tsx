/**
 * Backup settings (SPEC Fig. 10): which volume, to which store, one shot (now or at a
 * time) or periodic (every N days, weeks or months from a start, optionally a number of
 * runs), by which method, with which retention. Each setting runs as jobs; "Run now"
 * starts one at once. The scheduler decides the runs; this page only edits settings.
 */
import { useMemo, useState } from 'preact/hooks';
import type { ApiError, BackupSettingView } from '../api/client.js';
import { ConfirmDialog } from '../components/confirm.js';
import { Field, Form, useFields } from '../components/form.js';
import { ago, formatTime } from '../components/format.js';
import { Badge, ErrorNote, LoadState, PageHeader } from '../components/page.js';
import { type Column, DataTable } from '../components/table.js';
import { toApiError, useLoad } from '../components/use-load.js';
import { useApp, useCan } from '../context.js';
import { followLink, navigate } from '../router.js';
import { jobHref } from './jobs.js';

type Schedule = BackupSettingView['schedule'];
type Method = BackupSettingView['method'];

export function scheduleText(s: Schedule): string {
  if (s.kind === 'once') return s.at ? `once at ${formatTime(s.at)}` : 'once, now';
  const unit = { daily: 'day', weekly: 'week', monthly: 'month' }[s.kind];
  const every = s.interval === 1 ? `every ${unit}` : `every ${s.interval} ${unit}s`;
  return `${every} from ${formatTime(s.start)}${s.maxRuns ? `, ${s.maxRuns} runs` : ''}`;
}

function retentionText(r: BackupSettingView['retention']): string {
  if (!r) return 'keep all';
  const parts = Object.entries(r)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k.replace('keep', '').toLowerCase()} ${v}`);
  return parts.length ? `keep ${parts.join(', ')}` : 'keep all';
}

export function BackupsPage() {
  const { api } = useApp();
  const canAdd = useCan('POST /v1/backup-settings');
  const canRun = useCan('POST /v1/backup-settings/:setting/run');
  const canRemove = useCan('DELETE /v1/backup-settings/:setting');
  const settings = useLoad((a) => a.listBackupSettings(), []);
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<BackupSettingView | null>(null);
  const [runError, setRunError] = useState<ApiError | null>(null);

  const columns = useMemo<Column<BackupSettingView>[]>(() => {
    const cols: Column<BackupSettingView>[] = [
      { key: 'name', label: 'Setting', width: '12%', value: (s) => s.name },
      {
        key: 'volume',
        label: 'Volume',
        width: '14%',
        value: (s) => `${s.volumeName ?? ''} ${s.volume}`,
        render: (s) => (
          <a href={`/volumes/${encodeURIComponent(s.volume)}`} onClick={followLink}>
            {s.volumeName ?? s.volume}
          </a>
        ),
      },
      { key: 'store', label: 'Store', width: '9%', value: (s) => s.store },
      { key: 'method', label: 'Method', width: '9%', value: (s) => s.method },
      { key: 'timing', label: 'Timing', width: '17%', value: (s) => scheduleText(s.schedule), wrap: true },
      {
        key: 'retention',
        label: 'Retention',
        width: '10%',
        value: (s) => retentionText(s.retention),
        wrap: true,
      },
      {
        key: 'next',
        label: 'Next / last run',
        width: '13%',
        value: (s) => s.nextRunAt,
        render: (s) => (
          <>
            {s.enabled ? (
              s.nextRunAt ? (
                formatTime(s.nextRunAt)
              ) : (
                <span class="muted">no more runs</span>
              )
            ) : (
              <Badge tone="warn">disabled</Badge>
            )}
            <br />
            <span class="muted">
              {s.lastJob ? (
                <a href={jobHref(s.lastJob)} onClick={followLink}>
                  last {ago(s.lastRunAt)}
                </a>
              ) : (
                'never run'
              )}
            </span>
          </>
        ),
        noFilter: true,
      },
    ];
    if (canRun || canRemove)
      cols.push({
        key: 'actions',
        label: '',
        width: '17%',
        value: () => null,
        align: 'right',
        noSort: true,
        noFilter: true,
        render: (s) => (
          <span class="row-actions">
            {canRun && (
              <button
                type="button"
                class="small"
                aria-label={`Run ${s.name} now`}
                onClick={() =>
                  api.runBackupSetting(s.id).then(
                    (job) => navigate(jobHref(job.id)),
                    (err) => setRunError(toApiError(err)),
                  )
                }
              >
                Run now
              </button>
            )}
            {canRemove && (
              <button
                type="button"
                class="danger small"
                aria-label={`Delete ${s.name}`}
                onClick={() => setRemoving(s)}
              >
                Delete
              </button>
            )}
          </span>
        ),
      });
    return cols;
  }, [canRun, canRemove, api]);

  return (
    <section>
      <PageHeader title="Backups">
        {canAdd && !adding && (
          <button type="button" class="primary" onClick={() => setAdding(true)}>
            Add backup setting
          </button>
        )}
      </PageHeader>
      {canAdd && adding && (
        <AddSettingForm
          onCancel={() => setAdding(false)}
          onAdded={() => {
            setAdding(false);
            void settings.reload();
          }}
        />
      )}
      {removing && (
        <ConfirmDialog
          title={`Delete backup setting ${removing.name}?`}
          confirmLabel="Delete setting"
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await api.removeBackupSetting(removing.id);
            void settings.reload();
          }}
        >
          <p>No more runs of it are scheduled. Its generations stay in store {removing.store}.</p>
        </ConfirmDialog>
      )}
      {runError && <ErrorNote error={runError} context="Run now" />}
      <LoadState loading={settings.loading && !settings.data} error={settings.error} what="backup settings" />
      {settings.data && (
        <DataTable
          label="Backup settings"
          rows={settings.data}
          columns={columns}
          rowKey={(s) => s.id}
          noun={['setting', 'settings']}
          empty={canAdd ? 'No backup settings yet. Add one to protect a volume.' : 'No backup settings yet.'}
        />
      )}
    </section>
  );
}

const UNIT: Record<string, string> = { daily: 'days', weekly: 'weeks', monthly: 'months' };

/** A datetime-local value ("2026-05-01T02:00") as ISO, or null when empty. */
const iso = (local: string) => (local ? new Date(local).toISOString() : null);
const optInt = (s: string) => (s.trim() === '' ? undefined : Number(s));

function AddSettingForm({ onAdded, onCancel }: { onAdded: () => void; onCancel: () => void }) {
  const { api } = useApp();
  const volumes = useLoad((a) => a.listVolumes(), []);
  const stores = useLoad((a) => a.listStores(), []);
  const f = useFields({
    name: '',
    volume: '',
    store: '',
    method: 'incremental',
    timing: 'once',
    at: '',
    start: '',
    interval: '1',
    maxRuns: '',
    keepLast: '',
    keepDaily: '',
    keepWeekly: '',
    keepMonthly: '',
  });
  const v = f.values;
  const volume = v.volume || volumes.data?.[0]?.uniqueId || '';
  const store = v.store || stores.data?.[0]?.name || '';
  const pick = (key: keyof typeof v) => (e: Event) => {
    const value = (e.currentTarget as HTMLSelectElement).value;
    f.set((s) => ({ ...s, [key]: value }));
  };

  const schedule = (): Schedule =>
    v.timing === 'once'
      ? { kind: 'once', at: iso(v.at) }
      : {
          kind: v.timing as 'daily' | 'weekly' | 'monthly',
          start: iso(v.start) ?? new Date().toISOString(),
          interval: Number(v.interval),
          maxRuns: optInt(v.maxRuns) ?? null,
        };
  const retention = () => {
    const r = {
      keepLast: optInt(v.keepLast),
      keepDaily: optInt(v.keepDaily),
      keepWeekly: optInt(v.keepWeekly),
      keepMonthly: optInt(v.keepMonthly),
    };
    const set = Object.fromEntries(Object.entries(r).filter(([, n]) => n !== undefined));
    return Object.keys(set).length ? set : undefined;
  };

  return (
    <Form
      title="Add a backup setting"
      submitLabel="Add setting"
      onCancel={onCancel}
      validate={() => {
        if (!volume) return 'Pick a volume: there is none yet.';
        if (!store) return 'Pick an object store: register one under Object stores first.';
        for (const k of [
          'interval',
          'maxRuns',
          'keepLast',
          'keepDaily',
          'keepWeekly',
          'keepMonthly',
        ] as const)
          if (v[k].trim() !== '' && !/^\d+$/.test(v[k].trim())) return `${k}: a whole number, please.`;
        return null;
      }}
      onSubmit={async () => {
        const r = retention();
        await api.addBackupSetting({
          name: v.name.trim(),
          volume,
          store,
          method: v.method as Method,
          schedule: schedule(),
          ...(r ? { retention: r } : {}),
        });
        onAdded();
      }}
    >
      <Field label="Setting name" name="name" hint="1-64 of A-Z a-z 0-9 . _ -">
        <input name="name" required autocomplete="off" {...f.bind('name')} />
      </Field>
      <Field label="Target volume" name="volume">
        <select name="volume" value={volume} onChange={pick('volume')}>
          {(volumes.data ?? []).map((x) => (
            <option key={x.uniqueId} value={x.uniqueId}>
              {x.name} ({x.node}, {x.uniqueId})
            </option>
          ))}
        </select>
      </Field>
      <Field label="Store" name="store">
        <select name="store" value={store} onChange={pick('store')}>
          {(stores.data ?? []).map((s) => (
            <option key={s.name}>{s.name}</option>
          ))}
        </select>
      </Field>
      <Field
        label="Method"
        name="method"
        hint="full: every allocated block; incremental: changed since the previous generation; differential: changed since the last full"
      >
        <select name="method" value={v.method} onChange={pick('method')}>
          <option value="full">full</option>
          <option value="incremental">incremental</option>
          <option value="differential">differential</option>
        </select>
      </Field>
      <Field label="Timing" name="schedule">
        <select name="timing" value={v.timing} onChange={pick('timing')}>
          <option value="once">one shot</option>
          <option value="daily">periodic: days</option>
          <option value="weekly">periodic: weeks</option>
          <option value="monthly">periodic: months</option>
        </select>
      </Field>
      {v.timing === 'once' ? (
        <Field label="When" name="schedule.at" hint="Empty: now.">
          <input type="datetime-local" name="at" {...f.bind('at')} />
        </Field>
      ) : (
        <>
          <Field label="First run" name="schedule.start" hint="Empty: now.">
            <input type="datetime-local" name="start" {...f.bind('start')} />
          </Field>
          <Field label="Every" name="schedule.interval" addon={<span class="muted">{UNIT[v.timing]}</span>}>
            <input name="interval" inputMode="numeric" {...f.bind('interval')} />
          </Field>
          <Field label="Stop after runs" name="schedule.maxRuns" hint="Empty: no limit.">
            <input name="maxRuns" inputMode="numeric" {...f.bind('maxRuns')} />
          </Field>
        </>
      )}
      <Field label="Keep last" name="retention.keepLast" hint="Retention: empty keeps every generation.">
        <input name="keepLast" inputMode="numeric" {...f.bind('keepLast')} />
      </Field>
      <Field label="Keep daily" name="retention.keepDaily">
        <input name="keepDaily" inputMode="numeric" {...f.bind('keepDaily')} />
      </Field>
      <Field label="Keep weekly" name="retention.keepWeekly">
        <input name="keepWeekly" inputMode="numeric" {...f.bind('keepWeekly')} />
      </Field>
      <Field label="Keep monthly" name="retention.keepMonthly">
        <input name="keepMonthly" inputMode="numeric" {...f.bind('keepMonthly')} />
      </Field>
    </Form>
  );
}
