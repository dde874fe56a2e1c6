/**
 * The health poller (SPEC "The parts": the manager monitors health). Every intervalMs
 * on the manager's clock it asks each registered node who it is and what volumes it
 * has (Registry.checkNode): a node that answers is `ok` with a fresh last-seen time and
 * its volumes synced; one that does not is `unreachable`, and each change is an event.
 * One round at a time: a slow round delays the next, never overlaps it.
 */
import type { Logger } from '../logger.js';
import type { Clock, TimerHandle } from './clock.js';
import type { Registry } from './registry.js';

export class HealthPoller {
  private timer: TimerHandle | undefined;
  private round: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly registry: Registry,
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Stop polling; waits for a round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    await this.round;
  }

  /** Check every node now (also what each timer tick does). Rounds never overlap. */
  pollOnce(): Promise<void> {
    this.round ??= this.checkAll().finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  /** The round in progress, if any (tests await it after advancing the clock). */
  settled(): Promise<void> {
    return this.round ?? Promise.resolve();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.pollOnce().finally(() => this.schedule());
    }, this.intervalMs);
  }

  private async checkAll(): Promise<void> {
    try {
      const nodes = await this.registry.db.listNodes();
      await Promise.all(nodes.map((n) => this.registry.checkNode(n)));
    } catch (err) {
      // A database failure: say so and try again next round.
      this.logger.error({ err }, 'health poll failed');
    }
  }
}
