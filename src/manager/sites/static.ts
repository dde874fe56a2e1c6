/**
 * The `static` site provider: the secondary node already runs, started and stopped by
 * someone else (a standby machine, a node an operator manages by hand). build() only
 * checks that it answers at the configured URL with the configured token; teardown()
 * does nothing and says so ('skipped'): "stop the secondary's machines" (S408, S710,
 * S906) is then the operator's job, and the failback job's log says that.
 */
import { isReboundError, ReboundError } from '../../errors.js';
import { type Logger, silentLogger } from '../../logger.js';
import { probeNode } from './probe.js';
import type { StaticSiteConfig } from './schema.js';
import type { BuiltNode, SiteProvider, SiteRef, SiteStatus, TeardownOutcome } from './types.js';

export class StaticSiteProvider implements SiteProvider {
  readonly type = 'static' as const;
  private readonly logger: Logger;

  constructor(
    private readonly config: StaticSiteConfig,
    context: { logger?: Logger } = {},
  ) {
    this.logger = context.logger ?? silentLogger;
  }

  async build(site: SiteRef): Promise<BuiltNode> {
    try {
      return await probeNode(this.target());
    } catch (err) {
      if (!isReboundError(err, 'NODE_UNREACHABLE')) throw err;
      throw new ReboundError(
        'NODE_UNREACHABLE',
        `the secondary node of site ${site.name} does not answer at ${this.config.url}; ` +
          'start it there (a static site is not started by the manager), or fix the url in the site config',
        { cause: err, detail: { site: site.name } },
      );
    }
  }

  async status(_site: SiteRef): Promise<SiteStatus> {
    try {
      return { state: 'running', node: await probeNode(this.target()) };
    } catch (err) {
      return { state: 'unreachable', detail: (err as Error).message };
    }
  }

  async teardown(site: SiteRef): Promise<TeardownOutcome> {
    this.logger.info({ site: site.name, url: this.config.url }, 'static site: its node is left running');
    return 'skipped';
  }

  private target() {
    const { url, token, nbd, tls } = this.config;
    return { url, token, nbd, tls: tls ?? { mode: 'off' as const } };
  }
}
