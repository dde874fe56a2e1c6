/**
 * The console's client of the manager API: fetch with the session's bearer token, typed
 * with the manager's own declarations (src/manager/api-schema.ts, types only: nothing of
 * the server is bundled). It mirrors src/manager/client.ts, which the CLI uses; a new
 * route gets a method here beside its entry in access.ts.
 *
 * Errors come back as ApiError with the manager's code, message and detail (the field a
 * 400 names), so a form shows them next to the field that caused them. A 401 means the
 * session is over: `onUnauthorized` signs the console out.
 */
import type {
  AddBackupSettingBody,
  AddSiteBody,
  AddStoreBody,
  AddUserBody,
  AuditPage,
  BackupSettingView,
  CreateTokenBody,
  CreateVolumeBody,
  DrVolumeView,
  ErrorBody,
  EventPage,
  FailbackBody,
  FailbackEstimateView,
  FailoverBody,
  GenerationView,
  HeatmapView,
  JobView,
  NewTokenView,
  NodeView,
  RegisterNodeBody,
  RestoreBody,
  RunBackupBody,
  SiteView,
  StoreView,
  TokenView,
  UpdateBackupSettingBody,
  UpdateUserBody,
  UserView,
  VolumeView,
  WhoAmI,
} from '../../../src/manager/api-schema.js';

export type {
  AuditView,
  BackupSettingView,
  DrVolumeView,
  EventView,
  FailbackEstimateView,
  GenerationView,
  HeatmapView,
  JobLogView,
  JobView,
  NewTokenView,
  NodeView,
  SiteView,
  StoreView,
  TokenView,
  UserView,
  VolumeView,
  WhoAmI,
} from '../../../src/manager/api-schema.js';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
  /** The request field a 400 names (`sizeBytes`, `url`...), if any. */
  get field(): string | undefined {
    return typeof this.detail.field === 'string' ? this.detail.field : undefined;
  }
}

export interface PageOptions {
  limit?: number;
  before?: number | null;
}

const enc = encodeURIComponent;

function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export class Api {
  constructor(
    private readonly token: string | null,
    private readonly onUnauthorized: (err: ApiError) => void = () => {},
    private readonly timeoutMs = 30_000,
  ) {}

  /** The same client with another token (after sign-in). */
  withToken(token: string): Api {
    return new Api(token, this.onUnauthorized, this.timeoutMs);
  }

  signIn(user: string, password: string): Promise<NewTokenView> {
    return this.call('POST', '/v1/auth/sign-in', { user, password });
  }
  whoami(): Promise<WhoAmI> {
    return this.call('GET', '/v1/auth/whoami');
  }

  listSites(): Promise<SiteView[]> {
    return this.call('GET', '/v1/sites');
  }
  addSite(body: AddSiteBody): Promise<SiteView> {
    return this.call('POST', '/v1/sites', body);
  }
  removeSite(name: string): Promise<void> {
    return this.call('DELETE', `/v1/sites/${enc(name)}`);
  }
  /** Start a secondary site's stopped node again, as its failover built it; the answer is the job. */
  startSite(name: string): Promise<JobView> {
    return this.call('POST', `/v1/sites/${enc(name)}/start`);
  }

  listNodes(): Promise<NodeView[]> {
    return this.call('GET', '/v1/nodes');
  }
  registerNode(body: RegisterNodeBody): Promise<NodeView> {
    return this.call('POST', '/v1/nodes', body);
  }
  checkNode(name: string): Promise<NodeView> {
    return this.call('POST', `/v1/nodes/${enc(name)}/check`);
  }
  removeNode(name: string): Promise<void> {
    return this.call('DELETE', `/v1/nodes/${enc(name)}`);
  }

  listVolumes(filter: { node?: string; name?: string } = {}): Promise<VolumeView[]> {
    return this.call('GET', `/v1/volumes${query(filter)}`);
  }
  createVolume(body: CreateVolumeBody): Promise<VolumeView> {
    return this.call('POST', '/v1/volumes', body);
  }
  /** By unique ID (SERIAL:NUMBER), or by a name held by one node only. */
  getVolume(ref: string): Promise<VolumeView> {
    return this.call('GET', `/v1/volumes/${enc(ref)}`);
  }
  deleteVolume(ref: string): Promise<void> {
    return this.call('DELETE', `/v1/volumes/${enc(ref)}`);
  }

  listStores(): Promise<StoreView[]> {
    return this.call('GET', '/v1/stores');
  }
  addStore(body: AddStoreBody): Promise<StoreView> {
    return this.call('POST', '/v1/stores', body);
  }
  removeStore(name: string): Promise<void> {
    return this.call('DELETE', `/v1/stores/${enc(name)}`);
  }

  listUsers(): Promise<UserView[]> {
    return this.call('GET', '/v1/users');
  }
  addUser(body: AddUserBody): Promise<UserView> {
    return this.call('POST', '/v1/users', body);
  }
  updateUser(name: string, body: UpdateUserBody): Promise<UserView> {
    return this.call('PATCH', `/v1/users/${enc(name)}`, body);
  }
  removeUser(name: string): Promise<void> {
    return this.call('DELETE', `/v1/users/${enc(name)}`);
  }

  listTokens(user?: string): Promise<TokenView[]> {
    return this.call('GET', `/v1/tokens${query({ user })}`);
  }
  /** The answer carries the token itself: the only time it is shown. */
  createToken(body: CreateTokenBody): Promise<NewTokenView> {
    return this.call('POST', '/v1/tokens', body);
  }
  revokeToken(id: string): Promise<void> {
    return this.call('DELETE', `/v1/tokens/${enc(id)}`);
  }

  audit(page: PageOptions = {}): Promise<AuditPage> {
    return this.call('GET', `/v1/audit${query({ ...page })}`);
  }
  events(page: PageOptions & { kind?: string } = {}): Promise<EventPage> {
    return this.call('GET', `/v1/events${query({ ...page })}`);
  }

  listBackupSettings(): Promise<BackupSettingView[]> {
    return this.call('GET', '/v1/backup-settings');
  }
  addBackupSetting(body: AddBackupSettingBody): Promise<BackupSettingView> {
    return this.call('POST', '/v1/backup-settings', body);
  }
  updateBackupSetting(ref: string, body: UpdateBackupSettingBody): Promise<BackupSettingView> {
    return this.call('PATCH', `/v1/backup-settings/${enc(ref)}`, body);
  }
  removeBackupSetting(ref: string): Promise<void> {
    return this.call('DELETE', `/v1/backup-settings/${enc(ref)}`);
  }
  runBackupSetting(ref: string): Promise<JobView> {
    return this.call('POST', `/v1/backup-settings/${enc(ref)}/run`);
  }
  backup(body: RunBackupBody): Promise<JobView> {
    return this.call('POST', '/v1/backups', body);
  }
  listGenerations(
    store: string,
    filter: { volume?: string; uniqueId?: string } = {},
  ): Promise<GenerationView[]> {
    return this.call('GET', `/v1/stores/${enc(store)}/generations${query(filter)}`);
  }
  restore(body: RestoreBody): Promise<JobView> {
    return this.call('POST', '/v1/restores', body);
  }
  verify(store: string, body: { generation?: string; uniqueId?: string } = {}): Promise<JobView> {
    return this.call('POST', `/v1/stores/${enc(store)}/verify`, body);
  }

  failover(body: FailoverBody): Promise<JobView> {
    return this.call('POST', '/v1/failovers', body);
  }
  failback(body: FailbackBody): Promise<JobView> {
    return this.call('POST', '/v1/failbacks', body);
  }
  failbackEstimate(volume: string): Promise<FailbackEstimateView> {
    return this.call('GET', `/v1/failbacks/estimate${query({ volume })}`);
  }
  drStatus(): Promise<DrVolumeView[]> {
    return this.call('GET', '/v1/dr');
  }
  heatmap(volume: string, options: { bitmap?: string; buckets?: number } = {}): Promise<HeatmapView> {
    return this.call('GET', `/v1/volumes/${enc(volume)}/heatmap${query(options)}`);
  }

  listJobs(filter: { state?: string; kind?: string; limit?: number } = {}): Promise<JobView[]> {
    return this.call('GET', `/v1/jobs${query(filter)}`);
  }
  getJob(id: string): Promise<JobView> {
    return this.call('GET', `/v1/jobs/${enc(id)}`);
  }
  cancelJob(id: string): Promise<JobView> {
    return this.call('POST', `/v1/jobs/${enc(id)}/cancel`);
  }
  resumeJob(id: string): Promise<JobView> {
    return this.call('POST', `/v1/jobs/${enc(id)}/resume`);
  }

  /**
   * Every job change as it happens (GET /v1/jobs/stream, server-sent events), read with
   * fetch and a stream reader because EventSource cannot send the bearer token. Resolves
   * when the stream ends or `signal` aborts; the caller reconnects.
   */
  async streamJobs(onJob: (job: JobView) => void, signal: AbortSignal, onOpen?: () => void): Promise<void> {
    const res = await fetch('/v1/jobs/stream', {
      headers: {
        accept: 'text/event-stream',
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      },
      signal,
      credentials: 'omit',
    });
    if (!res.ok || !res.body) throw new ApiError('INTERNAL', `job stream: HTTP ${res.status}`, res.status);
    onOpen?.();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      // Events end with a blank line; comments (": ping") carry no data.
      for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
        const event = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = event
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n');
        if (data) onJob(JSON.parse(data) as JobView);
      }
    }
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers: {
          accept: 'application/json',
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
        credentials: 'omit',
      });
    } catch (err) {
      const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
      throw new ApiError(
        'MANAGER_UNREACHABLE',
        timedOut
          ? `the manager did not answer ${method} ${path} within ${this.timeoutMs / 1000} s`
          : 'cannot reach the manager: is it running?',
        0,
      );
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (!res.ok) {
      let parsed: Partial<ErrorBody> | undefined;
      try {
        parsed = JSON.parse(text) as Partial<ErrorBody>;
      } catch {}
      const e = parsed?.error;
      const err = new ApiError(
        e?.code ?? 'INTERNAL',
        e?.message ?? `HTTP ${res.status}: ${text.slice(0, 200)}`,
        res.status,
        e?.detail ?? {},
      );
      // The sign-in call's own 401 is a wrong password, not an ended session.
      if (res.status === 401 && this.token) this.onUnauthorized(err);
      throw err;
    }
    return JSON.parse(text) as T;
  }
}
