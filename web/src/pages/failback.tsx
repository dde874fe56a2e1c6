/**
 * The failback wizard (SPEC Fig. 21-33): for one failed-over volume, every method the
 * API offers with what it would move, from the secondary's since-restore bitmap and the
 * unique-ID comparison (GET /v1/failbacks/estimate), drawn against a full copy; pick
 * one, and what verify compares before the primary's hosts start, and start. The job
 * page follows it.
 */
import { useState } from 'preact/hooks';
import type { FailbackBody } from '../../../src/manager/api-schema.js';
import type { FailbackEstimateView } from '../api/client.js';
import { Field, Form } from '../components/form.js';
import { formatBytes, plural } from '../components/format.js';
import { Badge, Facts, LoadState, PageHeader } from '../components/page.js';
import { useLoad } from '../components/use-load.js';
import { useApp } from '../context.js';
import { Link, navigate, useLocation } from '../router.js';
import { jobHref } from './jobs.js';

type Method = FailbackBody['method'];

export function FailbackPage() {
  const { api } = useApp();
  const { query } = useLocation();
  const dr = useLoad((a) => a.drStatus(), []);
  const away = (dr.data ?? []).filter((d) => d.active === 'secondary' && d.state === 'failed-over');
  const [volume, setVolume] = useState(query.get('volume') ?? '');
  const chosen = volume || away[0]?.lineage || '';
  const est = useLoad((a) => (chosen ? a.failbackEstimate(chosen) : Promise.resolve(null)), [chosen]);
  const e = est.data;
  const [method, setMethod] = useState('');
  const [verify, setVerify] = useState<NonNullable<FailbackBody['verify']>>('changed');
  const chosenMethod = method || e?.methods[0]?.method || '';

  return (
    <section>
      <p class="crumbs">
        <Link href="/dr">Disaster recovery</Link> /
      </p>
      <PageHeader title="Fail back" />
      <LoadState loading={dr.loading && !dr.data} error={dr.error} what="the DR state" />
      {dr.data && away.length === 0 && !chosen && (
        <p class="muted">No volume is failed over: nothing to fail back.</p>
      )}
      {dr.data && chosen && (
        <Form
          title="Bring a volume home"
          submitLabel="Start failback"
          validate={() => (!e ? 'The estimate has not loaded: see the error above.' : null)}
          onSubmit={async () => {
            const job = await api.failback({ volume: chosen, method: chosenMethod as Method, verify });
            navigate(jobHref(job.id));
          }}
        >
          <Field label="Volume" name="volume">
            <select name="volume" value={chosen} onChange={(ev) => setVolume(ev.currentTarget.value)}>
              {away.map((d) => (
                <option key={d.lineage} value={d.lineage}>
                  {d.volume} ({d.lineage}) at {d.secondarySite}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Verify" name="verify">
            <select
              name="verify"
              value={verify}
              onChange={(ev) => setVerify(ev.currentTarget.value as typeof verify)}
            >
              <option value="changed">the changed blocks (hashes of both sides)</option>
              <option value="full">every block (reads both volumes whole)</option>
            </select>
          </Field>
          <div class="field wide">
            <LoadState loading={est.loading && !e} error={est.error} what="the estimate" />
            {e && <Estimate e={e} method={chosenMethod} onMethod={setMethod} />}
          </div>
        </Form>
      )}
    </section>
  );
}

function Estimate({
  e,
  method,
  onMethod,
}: {
  e: FailbackEstimateView;
  method: string;
  onMethod: (m: string) => void;
}) {
  const full = Math.max(1, e.fullBytes);
  return (
    <>
      <Facts
        items={[
          ['At the secondary', `${e.secondaryVolume} on ${e.secondaryNode}`],
          [
            'Changed since failover',
            <span key="c" data-testid="changed">
              {plural(e.changedBlocks, 'block')} ({formatBytes(e.changedBytes)}) of{' '}
              {plural(e.fullBlocks, 'block')}
            </span>,
          ],
          [
            'Unique IDs (S503)',
            e.idsEqual === null ? (
              <Badge tone="warn">primary did not answer</Badge>
            ) : e.idsEqual ? (
              <Badge tone="ok">equal: only the changes move</Badge>
            ) : (
              <Badge tone="bad">differ: everything moves</Badge>
            ),
          ],
        ]}
      />
      {e.why && <p class="notice">{e.why}</p>}
      <table class="estimate" aria-label="Failback methods">
        <thead>
          <tr>
            <th />
            <th>Method</th>
            <th class="right">Blocks</th>
            <th class="right">Bytes</th>
            <th>Against a full copy ({formatBytes(e.fullBytes)})</th>
          </tr>
        </thead>
        <tbody>
          {e.methods.map((m) => (
            <tr key={m.method} data-method={m.method}>
              <td>
                <input
                  type="radio"
                  name="method"
                  aria-label={m.method}
                  value={m.method}
                  checked={m.method === method}
                  onChange={() => onMethod(m.method)}
                />
              </td>
              <td>
                <strong>{m.method}</strong>
                <br />
                <span class="muted">{m.how}</span>
              </td>
              <td class="right">{m.blocks.toLocaleString('en')}</td>
              <td class="right">{formatBytes(m.bytes)}</td>
              <td class="nowrap">
                <span class="compare" title={`${((100 * m.bytes) / full).toFixed(2)}% of a full copy`}>
                  <span class="compare-full" />
                  <span class="compare-this" style={{ width: `${Math.max(0.5, (100 * m.bytes) / full)}%` }} />
                </span>
                <span class="muted small">
                  {' '}
                  {((100 * m.bytes) / full).toFixed(m.bytes < full / 100 ? 2 : 0)}%
                </span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
