/**
 * A site-start job: bring a secondary site's node up again after it stopped (a crash, a
 * reboot of its machine) with the provider that built it at failover (SPEC S101-S102
 * again). The local provider starts the node on its data and its previous ports, so hosts
 * reconnect where they were and its pairs, journals and bitmaps carry on; the command
 * provider runs the operator's build script; a static node is only checked. Jobs paused
 * waiting for that node resume once the health poller sees it answer.
 */
import { type Decision, type JobPlan, remember } from '../plan.js';

export interface SiteStartParams {
  site: string;
  /** The registry's name for the site's node (kept when the node comes back). */
  nodeName: string;
}

export const siteStartPlan: JobPlan<SiteStartParams> = {
  kind: 'site-start',
  title: (p) => `start the node of site ${p.site}`,
  // The local provider serialises builds of one site as well; this keeps one job per site.
  lockKey: (p) => `site:${p.site}`,

  next(p, data): Decision {
    if (!data.build)
      return {
        step: {
          name: 'build',
          spec: 'S101-S102',
          title: `start the secondary storage system of site ${p.site}`,
          effect: { type: 'start-site', site: p.site, nodeName: p.nodeName },
        },
      };
    const r = data.build as { node: string; url: string; serial: string };
    return { done: r, message: `node ${r.node} of site ${p.site} answers at ${r.url}` };
  },

  apply: remember,

  describe(_step, result) {
    const r = result as Record<string, unknown>;
    return `node ${r.node} (serial ${r.serial}) at ${r.url}`;
  },
};
