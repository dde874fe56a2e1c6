/** From a site's provider config (validated here, at the edge) to its SiteProvider. */
import type { Logger } from '../../logger.js';
import { CommandSiteProvider } from './command.js';
import { LocalSiteProvider } from './local.js';
import { parseSiteProviderConfig } from './schema.js';
import { StaticSiteProvider } from './static.js';
import type { SiteProvider } from './types.js';

export interface SiteProviderContext {
  /** The manager's data directory: local nodes and scripts' working directories go under `sites/`. */
  dataDir: string;
  logger?: Logger;
  /** argv prefix that runs `rebound` (local provider; default: this package's bin/rebound.js). */
  executable?: string[];
}

/** INVALID_ARGUMENT naming the field when `config` does not fit the schema. */
export function openSiteProvider(config: unknown, context: SiteProviderContext): SiteProvider {
  const checked = parseSiteProviderConfig(config);
  const logger = context.logger?.child({ part: 'sites', provider: checked.type });
  switch (checked.type) {
    case 'local':
      return new LocalSiteProvider(checked, { ...context, logger });
    case 'command':
      return new CommandSiteProvider(checked, { dataDir: context.dataDir, logger });
    case 'static':
      return new StaticSiteProvider(checked, { logger });
  }
}
