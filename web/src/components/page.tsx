/** The pieces every page is made of: a header with its actions, an error note, a status badge. */
import type { ComponentChildren } from 'preact';
import type { ApiError } from '../api/client.js';

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1>{title}</h1>
      {children && <div class="page-actions">{children}</div>}
    </header>
  );
}

/** An API error as the manager put it: its code and message. */
export function ErrorNote({ error, context }: { error: ApiError; context?: string }) {
  return (
    <div class="error-note" role="alert" data-code={error.code}>
      <strong>{context ? `${context}: ` : ''}</strong>
      {error.message}
      <code class="error-code">{error.code}</code>
    </div>
  );
}

/** What a page shows before its first answer, or instead of it when the load failed. */
export function LoadState({ loading, error, what }: { loading: boolean; error?: ApiError; what: string }) {
  if (error) return <ErrorNote error={error} context={`Could not load ${what}`} />;
  if (loading) return <p class="muted loading">Loading {what}…</p>;
  return null;
}

export type Tone = 'ok' | 'bad' | 'warn' | 'info' | 'plain';

export function Badge({
  tone,
  children,
  title,
}: {
  tone: Tone;
  children: ComponentChildren;
  title?: string;
}) {
  return (
    <span class={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

/** Also called as a plain function in long tables (no component per cell). */
export function Health({ health, reason }: { health: 'ok' | 'unreachable'; reason?: string | null }) {
  return (
    <Badge tone={health === 'ok' ? 'ok' : 'bad'} title={reason ?? undefined}>
      {health}
    </Badge>
  );
}

/** A used-capacity bar with its percentage; also called as a plain function in long tables. */
export function UsageBar({ percent }: { percent: number }) {
  const p = Math.max(0, Math.min(100, percent));
  return (
    <span class="usage" title={`${percent}% used`}>
      <span class="usage-bar">
        <span class={`usage-fill${p >= 90 ? ' full' : p >= 75 ? ' high' : ''}`} style={{ width: `${p}%` }} />
      </span>
      <span class="usage-text">{percent.toFixed(percent < 10 ? 1 : 0)}%</span>
    </span>
  );
}

/** A definition list of label -> value pairs (details pages). */
export function Facts({ items }: { items: [string, ComponentChildren][] }) {
  return (
    <dl class="facts">
      {items.map(([k, v]) => (
        <div key={k} class="fact">
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
