/**
 * Virtual volumes (SPEC "External volume virtualization"; Failback, method 2, S702 and
 * S708): another node's export attached to this node over NBD, under a name, as a
 * BlockDevice a local copy can write into. The secondary attaches the primary's volume
 * this way and copies its changed blocks locally (local-copy.ts).
 *
 *   attach (S702)   dial the export (errors answer the caller; nothing is kept), then
 *                   `<nodeData>/externals/<name>.json` (the PSK sealed)
 *   device(name)    the connection; dialled again after a node restart or a close
 *   detach (S708)   flush, close, forget the record
 *
 * A Rebound node describes each volume export as `volume <unique ID>`
 * (NBD_INFO_DESCRIPTION), so the view carries the destination's unique ID as the
 * primary itself reports it: the S704 variant of SPEC Fig. 27-28 compares with that.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ReboundError, toReboundError } from '../errors.js';
import { type Logger, silentLogger } from '../logger.js';
import { connectNbd, type NbdClientDevice, type NbdClientOptions } from '../nbd/client/index.js';
import { writeFileAtomic } from '../pool/index.js';
import type { PairTargetSpec, StoredTarget } from './record.js';
import { dialOptions, type Secrets, storeTarget, targetLabel } from './target.js';

export const EXTERNALS_DIR = 'externals';
const RECORD_VERSION = 1;
const CONNECT_TIMEOUT_MS = 10_000;

/** A connected export: what the NBD client gives (tests may put a fault in between). */
export type ExternalDevice = Pick<
  NbdClientDevice,
  | 'sizeBytes'
  | 'blockSizeBytes'
  | 'readOnly'
  | 'read'
  | 'write'
  | 'writeZeroes'
  | 'trim'
  | 'flush'
  | 'blockStatus'
  | 'close'
  | 'info'
>;

interface ExternalRecord {
  version: number;
  name: string;
  target: StoredTarget;
  attachedAt: string;
  sizeBytes: number;
  /** The unique ID the export's description carried at attach, if any. */
  uniqueId: string | null;
}

/** The API's view of a virtual volume (api-schema.ts ExternalView). */
export interface ExternalView {
  name: string;
  target: { host: string; port: number; export: string };
  tls: boolean;
  sizeBytes: number;
  uniqueId: string | null;
  connected: boolean;
  attachedAt: string;
}

export interface ExternalVolumesOptions {
  dataDir: string;
  secrets: Secrets;
  logger?: Logger;
  connect?: (options: NbdClientOptions) => Promise<ExternalDevice>;
}

/** `volume <unique ID>`: how a Rebound node describes a volume export (node/exports.ts). */
export function uniqueIdOfDescription(description: string | null): string | null {
  const m = /^volume (\S+)$/.exec(description ?? '');
  return m ? m[1] : null;
}

export class ExternalVolumes {
  private readonly records = new Map<string, ExternalRecord>();
  private readonly devices = new Map<string, Promise<ExternalDevice>>();
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly secrets: Secrets,
    private readonly logger: Logger,
    private readonly connect: (options: NbdClientOptions) => Promise<ExternalDevice>,
  ) {}

  static async open(options: ExternalVolumesOptions): Promise<ExternalVolumes> {
    const dir = join(options.dataDir, EXTERNALS_DIR);
    const x = new ExternalVolumes(
      dir,
      options.secrets,
      (options.logger ?? silentLogger).child({ part: 'externals' }),
      options.connect ?? connectNbd,
    );
    let files: string[] = [];
    try {
      files = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const f of files.filter((n) => n.endsWith('.json'))) {
      const r = JSON.parse(await readFile(join(dir, f), 'utf8')) as ExternalRecord;
      if (r.version !== RECORD_VERSION)
        throw new ReboundError('INVALID_ARGUMENT', `${join(dir, f)}: record version ${r.version} unknown`);
      x.records.set(r.name, r);
    }
    return x;
  }

  /**
   * S702: attach `target` as virtual volume `name`. Idempotent on the name: the same
   * target returns what is attached (`created` false); another target is CONFLICT.
   */
  async attach(name: string, spec: PairTargetSpec): Promise<{ view: ExternalView; created: boolean }> {
    this.checkOpen();
    const known = this.records.get(name);
    if (known) {
      const t = known.target;
      if (t.host !== spec.host || t.port !== spec.port || t.export !== spec.export)
        throw new ReboundError(
          'CONFLICT',
          `virtual volume ${name} is attached to ${targetLabel(t)} already; detach it first`,
        );
      return { view: this.view(known), created: false };
    }
    const target = storeTarget(spec, this.secrets);
    const dev = await this.dial(target); // a bad address or key answers the caller
    const record: ExternalRecord = {
      version: RECORD_VERSION,
      name,
      target,
      attachedAt: new Date().toISOString(),
      sizeBytes: dev.sizeBytes,
      uniqueId: uniqueIdOfDescription(dev.info.description),
    };
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFileAtomic(this.file(name), Buffer.from(`${JSON.stringify(record, null, 2)}\n`));
    } catch (err) {
      await dev.close().catch(() => {});
      throw err;
    }
    this.records.set(name, record);
    this.devices.set(name, Promise.resolve(dev));
    this.logger.info({ external: name, target: targetLabel(target), uniqueId: record.uniqueId }, 'attached');
    return { view: this.view(record), created: true };
  }

  list(): ExternalView[] {
    return [...this.records.values()].map((r) => this.view(r)).sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): ExternalView {
    return this.view(this.find(name));
  }

  /** The virtual volume's device, dialled again when it is not connected. */
  device(name: string): Promise<ExternalDevice> {
    this.checkOpen();
    const r = this.find(name);
    let d = this.devices.get(name);
    if (!d) {
      d = this.dial(r.target);
      this.devices.set(name, d);
      d.catch(() => this.devices.delete(name));
    }
    return d;
  }

  /** S708: flush what was written, disconnect, forget. NOT_FOUND when not attached. */
  async detach(name: string): Promise<void> {
    this.find(name);
    const d = this.devices.get(name);
    this.devices.delete(name);
    if (d) {
      const dev = await d.catch(() => null);
      if (dev) {
        try {
          await dev.flush();
        } finally {
          await dev.close().catch(() => {});
        }
      }
    }
    await rm(this.file(name), { force: true });
    this.records.delete(name);
    this.logger.info({ external: name }, 'detached');
  }

  /** Node stop: connections close, records stay (attached again on use after the start). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.devices.values()];
    this.devices.clear();
    await Promise.all(all.map((d) => d.then((dev) => dev.close()).catch(() => {})));
  }

  private view(r: ExternalRecord): ExternalView {
    return {
      name: r.name,
      target: { host: r.target.host, port: r.target.port, export: r.target.export },
      tls: r.target.tls !== null,
      sizeBytes: r.sizeBytes,
      uniqueId: r.uniqueId,
      connected: this.devices.has(r.name),
      attachedAt: r.attachedAt,
    };
  }

  private async dial(target: StoredTarget): Promise<ExternalDevice> {
    const dev = await this.connect(await dialOptions(target, this.secrets, CONNECT_TIMEOUT_MS)).catch(
      (err) => {
        throw toReboundError(err);
      },
    );
    if (dev.readOnly) {
      await dev.close().catch(() => {});
      throw new ReboundError('INVALID_ARGUMENT', `the export ${targetLabel(target)} is read-only`, {
        detail: { field: 'target' },
      });
    }
    return dev;
  }

  private find(name: string): ExternalRecord {
    const r = this.records.get(name);
    if (!r)
      throw new ReboundError('NOT_FOUND', `virtual volume ${name} is not attached`, {
        detail: { external: name },
      });
    return r;
  }

  private file(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  private checkOpen(): void {
    if (this.closed) throw new ReboundError('SHUTTING_DOWN', 'the node is stopping');
  }
}
