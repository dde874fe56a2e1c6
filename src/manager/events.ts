/**
 * The event log: errors and operations worth an operator's eye (a node registered, a
 * node's health changed, later a job failed). Each event is written to the database and
 * to the process log; notifications (a webhook) will hang off `record` too.
 */
import type { Logger } from '../logger.js';
import { type Clock, isoTime } from './clock.js';
import type { EventEntry, EventLevel, ManagerDb } from './db/types.js';

export class EventLog {
  constructor(
    private readonly db: ManagerDb,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

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
    return entry;
  }
}
