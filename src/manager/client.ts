/**
 * A typed client of the manager API, for the CLI (and scripts, tests). Types come from
 * api-schema.ts, the same schemas the server validates with. Errors come back as
 * ReboundError with the manager's code, so callers branch on codes; a manager that does
 * not answer is MANAGER_UNREACHABLE.
 */
import { enc, JsonClient, query } from '../http/index.js';
import type {
  AddBackupSettingBody,
  AddSiteBody,
  AddStoreBody,
  AddUserBody,
  AuditPage,
  BackupSettingView,
  CreateTokenBody,
  DrVolumeView,
  EventPage,
  FailbackBody,
  FailbackEstimateView,
  FailoverBody,
  GenerationsQuery,
  GenerationView,
  HeatmapView,
  JobView,
  ManagerHealth,
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
  VerifyBody,
  VolumeComparisonView,
  VolumeView,
  WhoAmI,
} from './api-schema.js';

export interface PageOptions {
  limit?: number;
  before?: number;
}

export class ManagerClient {
  /** `token` may be left out for health and sign-in. */
  private readonly http: JsonClient;

  constructor(
    readonly baseUrl: string,
    token?: string,
  ) {
    this.http = new JsonClient(baseUrl, token, {
      unreachable: {
        code: 'MANAGER_UNREACHABLE',
        message: `cannot reach the manager at ${baseUrl}: check --manager (or REBOUND_MANAGER) and that it runs`,
      },
    });
  }

  /** The same client with another token (after sign-in). */
  withToken(token: string): ManagerClient {
    return new ManagerClient(this.baseUrl, token);
  }

  health(): Promise<ManagerHealth> {
    return this.call('GET', '/v1/health');
  }
  openapi(): Promise<Record<string, unknown>> {
    return this.call('GET', '/v1/openapi.json');
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
  getSite(name: string): Promise<SiteView> {
    return this.call('GET', `/v1/sites/${enc(name)}`);
  }
  removeSite(name: string): Promise<void> {
    return this.call('DELETE', `/v1/sites/${enc(name)}`);
  }
  /** Start a secondary site's node again the way it was built; the answer is the job. */
  startSite(name: string): Promise<JobView> {
    return this.call('POST', `/v1/sites/${enc(name)}/start`);
  }

  listNodes(): Promise<NodeView[]> {
    return this.call('GET', '/v1/nodes');
  }
  registerNode(body: RegisterNodeBody): Promise<NodeView> {
    return this.call('POST', '/v1/nodes', body);
  }
  getNode(name: string): Promise<NodeView> {
    return this.call('GET', `/v1/nodes/${enc(name)}`);
  }
  /** Ask the node for its health and volumes now, instead of at the next poll. */
  checkNode(name: string): Promise<NodeView> {
    return this.call('POST', `/v1/nodes/${enc(name)}/check`);
  }
  removeNode(name: string): Promise<void> {
    return this.call('DELETE', `/v1/nodes/${enc(name)}`);
  }

  listVolumes(filter: { node?: string; name?: string } = {}): Promise<VolumeView[]> {
    return this.call('GET', `/v1/volumes${query(filter)}`);
  }
  createVolume(node: string, name: string, sizeBytes: number): Promise<VolumeView> {
    return this.call('POST', '/v1/volumes', { node, name, sizeBytes });
  }
  /** By unique ID (SERIAL:NUMBER), or by a name held by one node only. */
  getVolume(ref: string): Promise<VolumeView> {
    return this.call('GET', `/v1/volumes/${enc(ref)}`);
  }
  deleteVolume(ref: string): Promise<void> {
    return this.call('DELETE', `/v1/volumes/${enc(ref)}`);
  }
  /** Are two volumes identical? Each node hashes its own; only hashes are compared. */
  compareVolumes(a: string, b: string): Promise<VolumeComparisonView> {
    return this.call('POST', '/v1/volume-comparisons', { a, b });
  }

  listStores(): Promise<StoreView[]> {
    return this.call('GET', '/v1/stores');
  }
  addStore(body: AddStoreBody): Promise<StoreView> {
    return this.call('POST', '/v1/stores', body);
  }
  getStore(name: string): Promise<StoreView> {
    return this.call('GET', `/v1/stores/${enc(name)}`);
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
  getUser(name: string): Promise<UserView> {
    return this.call('GET', `/v1/users/${enc(name)}`);
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
    return this.call('GET', `/v1/audit${query(page)}`);
  }
  events(page: PageOptions & { kind?: string } = {}): Promise<EventPage> {
    return this.call('GET', `/v1/events${query(page)}`);
  }

  listBackupSettings(): Promise<BackupSettingView[]> {
    return this.call('GET', '/v1/backup-settings');
  }
  addBackupSetting(body: AddBackupSettingBody): Promise<BackupSettingView> {
    return this.call('POST', '/v1/backup-settings', body);
  }
  getBackupSetting(ref: string): Promise<BackupSettingView> {
    return this.call('GET', `/v1/backup-settings/${enc(ref)}`);
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
  /** One backup now; the answer is its job. */
  backup(body: RunBackupBody): Promise<JobView> {
    return this.call('POST', '/v1/backups', body);
  }
  listGenerations(store: string, filter: GenerationsQuery = {}): Promise<GenerationView[]> {
    return this.call('GET', `/v1/stores/${enc(store)}/generations${query(filter)}`);
  }
  restore(body: RestoreBody): Promise<JobView> {
    return this.call('POST', '/v1/restores', body);
  }
  verify(store: string, body: VerifyBody = {}): Promise<JobView> {
    return this.call('POST', `/v1/stores/${enc(store)}/verify`, body);
  }

  /** Fail volumes over to a secondary site (SPEC S101-S108); the answer is the job. */
  failover(body: FailoverBody): Promise<JobView> {
    return this.call('POST', '/v1/failovers', body);
  }
  /** Bring a failed-over volume home (the method decides how the changed blocks travel). */
  failback(body: FailbackBody): Promise<JobView> {
    return this.call('POST', '/v1/failbacks', body);
  }
  /** What each failback method would move for `volume`, before starting one. */
  failbackEstimate(volume: string): Promise<FailbackEstimateView> {
    return this.call('GET', `/v1/failbacks/estimate${query({ volume })}`);
  }
  /** Where `volume` changed, counted per slice of its address space. */
  heatmap(volume: string, options: { bitmap?: string; buckets?: number } = {}): Promise<HeatmapView> {
    return this.call('GET', `/v1/volumes/${enc(volume)}/heatmap${query(options)}`);
  }
  drStatus(): Promise<DrVolumeView[]> {
    return this.call('GET', '/v1/dr');
  }

  listJobs(
    filter: { state?: string; kind?: string; setting?: string; limit?: number } = {},
  ): Promise<JobView[]> {
    return this.call('GET', `/v1/jobs${query(filter)}`);
  }
  /** The job with its step log. */
  getJob(id: string): Promise<JobView> {
    return this.call('GET', `/v1/jobs/${enc(id)}`);
  }
  cancelJob(id: string): Promise<JobView> {
    return this.call('POST', `/v1/jobs/${enc(id)}/cancel`);
  }
  resumeJob(id: string): Promise<JobView> {
    return this.call('POST', `/v1/jobs/${enc(id)}/resume`);
  }
  /** Poll a job until it ends (or `timeoutMs` passes), calling `onChange` as it moves. */
  async waitJob(
    id: string,
    options: { intervalMs?: number; timeoutMs?: number; onChange?: (job: JobView) => void } = {},
  ): Promise<JobView> {
    const deadline = Date.now() + (options.timeoutMs ?? 3_600_000);
    for (;;) {
      const job = await this.getJob(id);
      options.onChange?.(job);
      if (['succeeded', 'failed', 'cancelled'].includes(job.state)) return job;
      if (Date.now() > deadline) return job;
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 500));
    }
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.http.call<T>(method, path, body);
  }
}
