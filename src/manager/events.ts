/**
 * The event log: errors and operations worth an operator's eye (a node registered, a
 * node's health changed, a job failed). Each event is written to the database and to the
 * process log. Notifications: errors, node health changes and paused or failed jobs are
 * also POSTed as JSON to the webhook when one is configured (`webhookUrl` in
 * manager.json), at most once each, never blocking the caller; a webhook that fails is
 * logged, and the event stays in the database either way.
 */
import type { Logger } from '../logger.js';
import { type Clock, isoTime } from './clock.js';
import type { EventEntry, EventLevel, ManagerDb } from './db/types.js';

/** Kinds that notify even when they are not errors. */
const NOTIFY_KINDS = new Set(['node.health', 'job.failed', 'job.paused', 'backup.missed', 'backup.skipped']);
const WEBHOOK_TIMEOUT_MS = 5_000;

export class EventLog {
  /** Webhook deliveries in flight (tests and shutdown wait for them). */
  private readonly sending = new Set<Promise<void>>();

  constructor(
    private readonly db: ManagerDb,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly webhookUrl: string | null = null,
  ) {}

  /** Resolve once every webhook delivery started so far has ended. */
  async drain(): Promise<void> {
    await Promise.all([...this.sending]);
  }

  private notify(entry: EventEntry): void {
    if (!this.webhookUrl || !(entry.level === 'error' || NOTIFY_KINDS.has(entry.kind))) return;
    const url = this.webhookUrl;
    const p = fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'rebound-manager' },
      body: JSON.stringify({ source: 'rebound', event: entry }),
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    })
      .then((res) => {
        if (!res.ok)
          this.logger.warn({ status: res.status, event: entry.kind }, 'webhook refused the notification');
      })
      .catch((err: Error) => this.logger.warn({ err: err.message, event: entry.kind }, 'webhook unreachable'))
      .finally(() => this.sending.delete(p));
    this.sending.add(p);
  }

  async record(
    level: EventLevel,
    kind: string,
    subject: string | null,
    message: string,
    detail: Record<string, unknown> | null = null,
  ): Promise<EventEntry> {
    const entry = await this.db.appendEvent({
      at: isoTime(this.clock),
      level,
      kind,
      subject,
      message,
      detail,
    });
    const log = { event: kind, subject, ...(detail ?? {}) };
    if (level === 'error') this.logger.error(log, message);
    else if (level === 'warning') this.logger.warn(log, message);
    else this.logger.info(log, message);
    this.notify(entry);
    return entry;
  }
}
