/**
 * The SiteProvider contract: how the manager makes a secondary storage system exist
 * (SPEC S101 "build the secondary storage system") and makes it go away again (S408,
 * S710, S906 "stop the secondary's machines"). Three implementations: `local` (a
 * `rebound node` process on this machine), `command` (the operator's scripts), `static`
 * (a node somebody else runs).
 *
 * The failover job calls these from resumable steps, and a manager restarted in the
 * middle of one calls them again, so every implementation MUST honour:
 *
 * - build(site) is idempotent. When the site's node already runs it MUST return that
 *   node (same data, same serial) rather than start a second one; when it was built
 *   before but has stopped (a crash, a reboot) it SHOULD start it again on its old data.
 *   It resolves only once the node's API answers GET /v1/health with the token returned.
 * - teardown(site) is idempotent. When nothing runs it MUST succeed ('absent'). It does
 *   not delete the node's data unless `purge` is set.
 * - status(site) never throws for a site that is merely down: it says so.
 * - Failures are ReboundError SITE_PROVIDER_FAILED (NODE_UNREACHABLE / NODE_AUTH when
 *   the node itself is the problem) with a message that says what to do next and, for a
 *   script or a child process, the tail of its output. Secrets (the node token, a PSK)
 *   never appear in a message.
 */

export interface SiteRef {
  /** The site's name in the registry; also a directory name under `<managerData>/sites/`. */
  name: string;
}

/** What a client needs to speak NBD over TLS to the node; never a key itself. */
export interface BuiltNodeTls {
  mode: 'off' | 'optional' | 'require';
  /** PSK: the identity (username) in the PSK file that clients present. */
  pskIdentity?: string;
  /** PSK: path of the psktool-format file holding the key, on the manager's machine. */
  pskFile?: string;
  /** x509: the CA certificate that verifies the node's certificate. */
  caFile?: string;
}

/** A secondary node that answers: where its API and NBD server are, and how to get in. */
export interface BuiltNode {
  /** Control API base URL, http://host:port */
  url: string;
  /** Bearer token of the control API (a secret: never log it). */
  token: string;
  /** The node's device serial number (SPEC Fig. 7), from GET /v1/node. */
  serial: string;
  /** Where hosts and other nodes reach its NBD server. */
  nbd: { host: string; port: number };
  tls: BuiltNodeTls;
}

export type SiteState =
  /** Nothing was built (or it was purged). */
  | 'absent'
  /** Built before, not running now; build() starts it again on its data. */
  | 'stopped'
  /** Running and answering GET /v1/health. */
  | 'running'
  /** Should be running (a live process, a configured address) but its API does not answer. */
  | 'unreachable'
  /** The provider cannot tell (a `command` site with no status script). */
  | 'unknown';

export interface SiteStatus {
  state: SiteState;
  /** Present when running. */
  node?: BuiltNode;
  /** One line for people: a pid, an address, why it is unreachable. */
  detail?: string;
}

/** What teardown did: stopped something, found nothing, or left it alone by design. */
export type TeardownOutcome = 'stopped' | 'absent' | 'skipped';

export interface TeardownOptions {
  /** Also delete the node's data (local: the site directory; command: REBOUND_PURGE=1). */
  purge?: boolean;
}

export interface SiteProvider {
  readonly type: 'local' | 'command' | 'static';
  build(site: SiteRef): Promise<BuiltNode>;
  status(site: SiteRef): Promise<SiteStatus>;
  teardown(site: SiteRef, options?: TeardownOptions): Promise<TeardownOutcome>;
}
