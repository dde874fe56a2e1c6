/**
 * manager/sites/: how the manager makes a secondary storage system exist and go away
 * (SPEC S101 "build the secondary storage system"; S408, S710, S906 "stop the
 * secondary's machines"), and how it runs the operator's commands that start and stop
 * hosts (S106/S107, S405, S707, S801, S904), which Rebound cannot do itself.
 *
 *   site config ──openSiteProvider──► SiteProvider ── build ──► BuiltNode {url, token, serial, nbd, tls}
 *                                      local   │ a `rebound node` process on this machine
 *                                      command │ the operator's build/teardown scripts
 *                                      static  │ a node somebody else runs
 *
 * Every call is idempotent (types.ts has the contract), because the failover and
 * failback jobs call them from resumable steps. The configs are TypeBox schemas
 * (schema.ts) for the manager API to validate with.
 */
export { BuildOutput, CommandSiteProvider } from './command.js';
export { type HostEvent, type HostHookEnv, type HostHookResult, runHostHook } from './hooks.js';
export { LocalSiteProvider } from './local.js';
export { openSiteProvider, type SiteProviderContext } from './open.js';
export {
  CommandSiteConfig,
  HostHookConfig,
  HostHooksConfig,
  LocalSiteConfig,
  LocalTlsConfig,
  NodeTlsView,
  parseHostHookConfig,
  parseSiteProviderConfig,
  SiteProviderConfig,
  StaticSiteConfig,
} from './schema.js';
export { StaticSiteProvider } from './static.js';
export type {
  BuiltNode,
  BuiltNodeTls,
  SiteProvider,
  SiteRef,
  SiteState,
  SiteStatus,
  TeardownOptions,
  TeardownOutcome,
} from './types.js';
