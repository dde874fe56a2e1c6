/**
 * The site provider and host hook configuration, declared once as TypeBox schemas
 * (STYLE.md point 12) so the manager API can validate the same shapes it stores, and
 * openSiteProvider() checks them again at the edge (parseSiteProviderConfig).
 *
 *   { "type": "local" }                                                 the embedded default
 *   { "type": "command", "build": "...", "teardown": "...", "timeoutSeconds": 600 }
 *   { "type": "static", "url": "http://10.0.0.5:7700", "token": "..." }
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ReboundError } from '../../errors.js';

const Script = Type.String({
  minLength: 1,
  maxLength: 8192,
  description: 'a shell command line, run with /bin/sh -c',
});
const Seconds = (description: string, maximum: number) => Type.Integer({ minimum: 1, maximum, description });
const HttpUrl = Type.String({ pattern: '^https?://[^\\s]+$', description: 'http(s)://host:port' });

/** TLS of the secondary's NBD server, as `rebound node init --tls*` takes it (paths on this machine). */
export const LocalTlsConfig = Type.Object(
  {
    mode: Type.Union([Type.Literal('off'), Type.Literal('optional'), Type.Literal('require')]),
    pskFile: Type.Optional(Type.String({ minLength: 1, description: 'username:hexkey per line (psktool)' })),
    certFile: Type.Optional(Type.String({ minLength: 1 })),
    keyFile: Type.Optional(Type.String({ minLength: 1 })),
    caFile: Type.Optional(
      Type.String({ minLength: 1, description: 'CA of the x509 certificates (clients verify with it)' }),
    ),
    verifyClient: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** What clients of an existing node need to know about its TLS (never the key). */
export const NodeTlsView = Type.Object(
  {
    mode: Type.Union([Type.Literal('off'), Type.Literal('optional'), Type.Literal('require')]),
    pskIdentity: Type.Optional(Type.String({ minLength: 1 })),
    pskFile: Type.Optional(Type.String({ minLength: 1 })),
    caFile: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

const NbdAddress = Type.Object(
  { host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) },
  {
    additionalProperties: false,
    description: "where hosts reach the node's NBD server, if not what it reports",
  },
);

export const LocalSiteConfig = Type.Object(
  {
    type: Type.Literal('local'),
    poolSizeBytes: Type.Optional(
      Type.Integer({ minimum: 2 ** 20, description: 'sparse drive size (default: 64 GiB)' }),
    ),
    blockSizeBytes: Type.Optional(
      Type.Integer({
        minimum: 4096,
        maximum: 2 ** 20,
        description:
          'pool block size, a power of two (default 64 KiB): the unit of allocation and copy-on-write (update bitmaps also note the 4 KiB grains written, which is what a failback moves)',
      }),
    ),
    restoreBytesPerSec: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: "the secondary's restore rate (rebound node init --restore-rate; default: no limit)",
      }),
    ),
    backupBytesPerSec: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: "the secondary's backup rate (rebound node init --backup-rate; default: no limit)",
      }),
    ),
    tls: Type.Optional(LocalTlsConfig),
    startTimeoutSeconds: Type.Optional(Seconds('how long the node may take to answer (default 60)', 3600)),
    stopTimeoutSeconds: Type.Optional(Seconds('SIGTERM grace before SIGKILL (default 20)', 3600)),
  },
  { additionalProperties: false },
);

export const CommandSiteConfig = Type.Object(
  {
    type: Type.Literal('command'),
    build: Script,
    teardown: Script,
    status: Type.Optional(Script),
    timeoutSeconds: Type.Optional(Seconds('limit on each script run (default 600)', 86400)),
    env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String())),
  },
  { additionalProperties: false },
);

export const StaticSiteConfig = Type.Object(
  {
    type: Type.Literal('static'),
    url: HttpUrl,
    token: Type.String({ minLength: 1, description: "the node's API token (a secret)" }),
    nbd: Type.Optional(NbdAddress),
    tls: Type.Optional(NodeTlsView),
  },
  { additionalProperties: false },
);

export const SiteProviderConfig = Type.Union([LocalSiteConfig, CommandSiteConfig, StaticSiteConfig]);

/** One operator command for the "start hosts" / "stop hosts" steps (SPEC S106, S405, S707, S801, S904). */
export const HostHookConfig = Type.Object(
  {
    command: Script,
    timeoutSeconds: Type.Optional(Seconds('limit on the run (default 300)', 86400)),
  },
  { additionalProperties: false },
);

export const HostHooksConfig = Type.Object(
  { startHosts: Type.Optional(HostHookConfig), stopHosts: Type.Optional(HostHookConfig) },
  { additionalProperties: false },
);

export type LocalSiteConfig = Static<typeof LocalSiteConfig>;
export type CommandSiteConfig = Static<typeof CommandSiteConfig>;
export type StaticSiteConfig = Static<typeof StaticSiteConfig>;
export type SiteProviderConfig = Static<typeof SiteProviderConfig>;
export type HostHookConfig = Static<typeof HostHookConfig>;
export type HostHooksConfig = Static<typeof HostHooksConfig>;

/**
 * Check a provider config (from the API, a file) and return it typed; INVALID_ARGUMENT
 * naming the first bad field otherwise. Never echoes values: the config may hold a token.
 */
export function parseSiteProviderConfig(config: unknown): SiteProviderConfig {
  const type = (config as { type?: unknown } | null)?.type;
  const schema =
    type === 'local'
      ? LocalSiteConfig
      : type === 'command'
        ? CommandSiteConfig
        : type === 'static'
          ? StaticSiteConfig
          : undefined;
  if (!schema) {
    throw new ReboundError('INVALID_ARGUMENT', 'site provider type must be "local", "command" or "static"', {
      detail: { field: 'type' },
    });
  }
  return check(schema, config, `${type} site provider`) as SiteProviderConfig;
}

export function parseHostHookConfig(config: unknown): HostHookConfig {
  return check(HostHookConfig, config, 'host hook');
}

function check<S extends TSchema>(schema: S, value: unknown, what: string): Static<S> {
  const first = Value.Errors(schema, value).First();
  if (first) {
    const field = first.path.replace(/^\//, '').replaceAll('/', '.') || '(root)';
    throw new ReboundError('INVALID_ARGUMENT', `${what} config: ${field}: ${first.message}`, {
      detail: { field },
    });
  }
  return value as Static<S>;
}
