/** `<managerData>/sites/<site>`: where a provider keeps a site's node, pid, log, scripts' state. */
import { join } from 'node:path';
import { ReboundError } from '../../errors.js';

/** The registry's name rule; it also keeps a site name a single, harmless path segment. */
const SITE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

export function siteDirectory(managerDataDir: string, site: string): string {
  if (!SITE_NAME.test(site)) {
    throw new ReboundError('INVALID_ARGUMENT', `site name "${site}" is not 1-64 of A-Z a-z 0-9 . _ -`, {
      detail: { field: 'site' },
    });
  }
  return join(managerDataDir, 'sites', site);
}
