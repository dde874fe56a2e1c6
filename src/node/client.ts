/**
 * A typed client of the node control API (used by the CLI, later by the manager). Errors
 * come back as ReboundError with the node's code, so callers branch on codes.
 */
import { enc, JsonClient } from '../http/index.js';
import type {
  AddStoreBody,
  AttachExternalBody,
  BackupBody,
  BitmapInfo,
  ExternalView,
  GenerationView,
  HashesBody,
  HashesView,
  Health,
  LocalCopyBody,
  MountView,
  NodeIdentity,
  PairKeyBody,
  PairKeyView,
  PairView,
  PremarkBody,
  PremarkView,
  PruneBody,
  RestoreBody,
  RevertBody,
  SnapshotInfo,
  StartPairBody,
  StoreView,
  TaskView,
  VolumeInfo,
} from './api-schema.js';

export class NodeClient {
  private readonly http: JsonClient;

  /** `timeoutMs` bounds every call (default 30 s): a node that never answers fails NODE_UNREACHABLE. */
  constructor(
    readonly baseUrl: string,
    token: string,
    options: { timeoutMs?: number } = {},
  ) {
    this.http = new JsonClient(baseUrl, token, {
      timeoutMs: options.timeoutMs,
      unreachable: { code: 'NODE_UNREACHABLE', message: `cannot reach the node at ${baseUrl}` },
    });
  }

  health(): Promise<Health> {
    return this.call('GET', '/v1/health');
  }
  identity(): Promise<NodeIdentity> {
    return this.call('GET', '/v1/node');
  }

  listVolumes(): Promise<VolumeInfo[]> {
    return this.call('GET', '/v1/volumes');
  }
  getVolume(name: string): Promise<VolumeInfo> {
    return this.call('GET', `/v1/volumes/${enc(name)}`);
  }
  createVolume(name: string, sizeBytes: number): Promise<VolumeInfo> {
    return this.call('POST', '/v1/volumes', { name, sizeBytes });
  }
  growVolume(name: string, sizeBytes: number): Promise<VolumeInfo> {
    return this.call('POST', `/v1/volumes/${enc(name)}/grow`, { sizeBytes });
  }
  deleteVolume(name: string): Promise<void> {
    return this.call('DELETE', `/v1/volumes/${enc(name)}`);
  }
  fence(name: string): Promise<VolumeInfo> {
    return this.call('POST', `/v1/volumes/${enc(name)}/fence`);
  }
  unfence(name: string): Promise<VolumeInfo> {
    return this.call('POST', `/v1/volumes/${enc(name)}/unfence`);
  }
  setInheritedUniqueId(name: string, inheritedUniqueId: string | null): Promise<VolumeInfo> {
    return this.call('PUT', `/v1/volumes/${enc(name)}/inherited-id`, { inheritedUniqueId });
  }

  listSnapshots(volume: string): Promise<SnapshotInfo[]> {
    return this.call('GET', `/v1/volumes/${enc(volume)}/snapshots`);
  }
  createSnapshot(volume: string, name: string): Promise<SnapshotInfo> {
    return this.call('POST', `/v1/volumes/${enc(volume)}/snapshots`, { name });
  }
  deleteSnapshot(volume: string, name: string): Promise<void> {
    return this.call('DELETE', `/v1/volumes/${enc(volume)}/snapshots/${enc(name)}`);
  }

  listBitmaps(volume: string): Promise<BitmapInfo[]> {
    return this.call('GET', `/v1/volumes/${enc(volume)}/bitmaps`);
  }
  /** The bits themselves, in the block-set encoding (docs/formats/bitmap.md): BlockSet.decode reads them. */
  /** The bits, one per block, or with `unit: 'grain'` one per grain (BitmapInfo.grainBytes). */
  bitmapBits(volume: string, name: string, unit: 'block' | 'grain' = 'block'): Promise<Buffer> {
    return this.http.bytes('GET', `/v1/volumes/${enc(volume)}/bitmaps/${enc(name)}/encoded?unit=${unit}`);
  }
  /** Mark ranges of a volume in its active bitmaps ahead of writes (durable on return). */
  premark(volume: string, body: PremarkBody): Promise<PremarkView> {
    return this.call('POST', `/v1/volumes/${enc(volume)}/premark`, body);
  }
  createBitmap(volume: string, name: string): Promise<BitmapInfo> {
    return this.call('POST', `/v1/volumes/${enc(volume)}/bitmaps`, { name });
  }
  freezeBitmap(volume: string, name: string, into: string): Promise<BitmapInfo> {
    return this.call('POST', `/v1/volumes/${enc(volume)}/bitmaps/${enc(name)}/freeze`, { into });
  }
  mergeBitmap(volume: string, from: string, into: string): Promise<BitmapInfo> {
    return this.call('POST', `/v1/volumes/${enc(volume)}/bitmaps/${enc(into)}/merge`, { from });
  }
  clearBitmap(volume: string, name: string): Promise<BitmapInfo> {
    return this.call('POST', `/v1/volumes/${enc(volume)}/bitmaps/${enc(name)}/clear`);
  }
  deleteBitmap(volume: string, name: string): Promise<void> {
    return this.call('DELETE', `/v1/volumes/${enc(volume)}/bitmaps/${enc(name)}`);
  }

  /** Start a copy pair from `volume` (idempotent on the pair's name). */
  startPair(volume: string, body: StartPairBody): Promise<PairView> {
    return this.call('POST', `/v1/volumes/${enc(volume)}/pairs`, body);
  }
  listPairs(volume: string): Promise<PairView[]> {
    return this.call('GET', `/v1/volumes/${enc(volume)}/pairs`);
  }
  /** With `wait`, the node answers once the state is not `whileState`, or after `waitMs` (a long poll). */
  getPair(
    volume: string,
    name: string,
    wait?: { waitMs: number; whileState?: PairView['state'] },
  ): Promise<PairView> {
    let q = wait ? `?waitMs=${wait.waitMs}` : '';
    if (wait?.whileState) q += `&whileState=${wait.whileState}`;
    return this.call('GET', `/v1/volumes/${enc(volume)}/pairs/${enc(name)}${q}`);
  }
  /** Drain and release (the volume must be fenced); BUSY when not drained within the node's wait: call again. */
  releasePair(volume: string, name: string): Promise<PairView> {
    return this.call('POST', `/v1/volumes/${enc(volume)}/pairs/${enc(name)}/release`);
  }
  deletePair(volume: string, name: string): Promise<void> {
    return this.call('DELETE', `/v1/volumes/${enc(volume)}/pairs/${enc(name)}`);
  }

  /** Install the TLS key of the failback pair writing into `volume` (idempotent). */
  putPairKey(volume: string, body: PairKeyBody): Promise<PairKeyView> {
    return this.call('PUT', `/v1/volumes/${enc(volume)}/pair-key`, body);
  }
  getPairKey(volume: string): Promise<PairKeyView> {
    return this.call('GET', `/v1/volumes/${enc(volume)}/pair-key`);
  }
  /** Remove it (only `identity`'s, when given); `removed: null` when there was none. */
  deletePairKey(volume: string, identity?: string): Promise<{ removed: PairKeyView | null }> {
    const q = identity === undefined ? '' : `?identity=${encodeURIComponent(identity)}`;
    return this.call('DELETE', `/v1/volumes/${enc(volume)}/pair-key${q}`);
  }

  listStores(): Promise<StoreView[]> {
    return this.call('GET', '/v1/stores');
  }
  addStore(registration: AddStoreBody): Promise<StoreView> {
    return this.call('POST', '/v1/stores', registration);
  }
  removeStore(name: string): Promise<void> {
    return this.call('DELETE', `/v1/stores/${enc(name)}`);
  }

  startBackup(body: BackupBody): Promise<TaskView> {
    return this.call('POST', '/v1/backups', body);
  }
  startRestore(body: RestoreBody): Promise<TaskView> {
    return this.call('POST', '/v1/restores', body);
  }
  /** Consistency assurance (SPEC S301-S303) as a task. */
  startRevert(body: RevertBody): Promise<TaskView> {
    return this.call('POST', '/v1/reverts', body);
  }
  listGenerations(
    store: string,
    filter: { volume?: string; uniqueId?: string } = {},
  ): Promise<GenerationView[]> {
    const q = new URLSearchParams(filter as Record<string, string>).toString();
    return this.call('GET', `/v1/stores/${enc(store)}/generations${q ? `?${q}` : ''}`);
  }
  startVerify(
    store: string,
    body: { generation?: string; uniqueId?: string; taskId?: string },
  ): Promise<TaskView> {
    return this.call('POST', `/v1/stores/${enc(store)}/verify`, body);
  }
  deleteGeneration(store: string, generation: string): Promise<unknown> {
    return this.call('POST', `/v1/stores/${enc(store)}/delete`, { generation });
  }
  prune(store: string, body: PruneBody): Promise<unknown> {
    return this.call('POST', `/v1/stores/${enc(store)}/prune`, body);
  }
  serve(store: string, generation: string, name: string): Promise<MountView> {
    return this.call('POST', `/v1/stores/${enc(store)}/serve`, { generation, name });
  }
  unmount(name: string): Promise<void> {
    return this.call('DELETE', `/v1/mounts/${enc(name)}`);
  }
  /** S702: attach another node's export as a virtual volume (idempotent on the name). */
  attachExternal(body: AttachExternalBody): Promise<ExternalView> {
    return this.call('POST', '/v1/externals', body);
  }
  listExternals(): Promise<ExternalView[]> {
    return this.call('GET', '/v1/externals');
  }
  /** S708: flush and disconnect a virtual volume. */
  detachExternal(name: string): Promise<void> {
    return this.call('DELETE', `/v1/externals/${enc(name)}`);
  }
  /** S704-S706: a volume's blocks into a virtual volume, as a task. */
  startLocalCopy(body: LocalCopyBody): Promise<TaskView> {
    return this.call('POST', '/v1/local-copies', body);
  }
  /** SHA-256 per block of a range of a volume (failback verify, volume compare). */
  hashes(volume: string, body: HashesBody): Promise<HashesView> {
    return this.call('POST', `/v1/volumes/${enc(volume)}/hashes`, body);
  }

  /** With `waitMs`, the node answers when the task ends or after that long (a long poll). */
  getTask(id: string, waitMs = 0): Promise<TaskView> {
    return this.call('GET', `/v1/tasks/${enc(id)}${waitMs > 0 ? `?waitMs=${waitMs}` : ''}`);
  }
  cancelTask(id: string): Promise<TaskView> {
    return this.call('POST', `/v1/tasks/${enc(id)}/cancel`);
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.http.call<T>(method, path, body);
  }
}
