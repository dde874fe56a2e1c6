/**
 * The node's copy pairs: start (idempotent on the name), list, show, release, delete;
 * resumed from `<nodeData>/pairs/*` at node start, stopped cleanly at node stop. A pair
 * name is unique on the node; a volume has at most one live pair (one journal attached).
 */
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ReboundError } from '../errors.js';
import type { JournalOptions } from '../journal/index.js';
import { type Logger, silentLogger } from '../logger.js';
import { connectNbd } from '../nbd/client/index.js';
import { NAME_PATTERN, type Storage } from '../volume/index.js';
import { freezeInto } from './freeze.js';
import { DEFAULT_RETRY, Pair, type PairContext, type RetryPolicy } from './pair.js';
import {
  newRecord,
  PAIR_FILE,
  type PairMode,
  type PairState,
  type PairTargetSpec,
  type PairView,
} from './record.js';
import { COPY_CONCURRENCY, storeTarget } from './target.js';

/** What POST /v1/volumes/:volume/pairs takes. */
export interface StartPairRequest {
  name: string;
  target: PairTargetSpec;
  mode: PairMode;
  /** Delta: a frozen bitmap of the volume whose blocks to copy. */
  bitmap?: string;
  /**
   * Delta, optional: an active bitmap the pair freezes into `bitmap` itself once the
   * journal is attached (S501 after S502), so no write falls between the freeze and the
   * start of journaling. Without it, `bitmap` must be frozen already, and writes made
   * after that freeze and before the pair starts reach neither the copy nor the journal
   * (freeze with the volume fenced, or pass this).
   */
  freezeFrom?: string;
}

export interface PairManagerOptions {
  /** The node's data directory; pairs live in `<dataDir>/pairs/<name>/`. */
  dataDir: string;
  storage: Storage;
  secrets: PairContext['secrets'];
  logger?: Logger;
  /** The journals' segment size and limit (default: the journal's defaults, 1 GiB). */
  journal?: JournalOptions;
  /** How long a release call waits for the drain before answering BUSY (default 20 s). */
  releaseTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  copyConcurrency?: number;
  /** How to reach a target (default: the NBD client); tests put a fault in between. */
  connect?: PairContext['connect'];
}

export const PAIRS_DIR = 'pairs';
const DEFAULT_RELEASE_TIMEOUT_MS = 20_000;

/** The active bitmap a pair keeps on its volume (pair.ts "Crashes"): a bitmap name of at most 64. */
export function pairBitmapName(pair: string): string {
  const name = `pair.${pair}`;
  return name.length <= 64 ? name : `pair.${createHash('sha256').update(pair).digest('hex').slice(0, 32)}`;
}

export class PairManager {
  private readonly pairs = new Map<string, Pair>();
  /** Start and delete calls in progress, by pair name (one at a time per name). */
  private readonly busy = new Map<string, Promise<unknown>>();
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly ctx: PairContext,
    private readonly releaseTimeoutMs: number,
  ) {}

  /** Load the pairs on disk and resume those still running. */
  static async open(options: PairManagerOptions): Promise<PairManager> {
    const ctx: PairContext = {
      storage: options.storage,
      secrets: options.secrets,
      connect: options.connect ?? connectNbd,
      logger: (options.logger ?? silentLogger).child({ part: 'pairs' }),
      journal: options.journal ?? {},
      retry: { ...DEFAULT_RETRY, ...options.retry },
      copyConcurrency: options.copyConcurrency ?? COPY_CONCURRENCY,
    };
    const dir = join(options.dataDir, PAIRS_DIR);
    const m = new PairManager(dir, ctx, options.releaseTimeoutMs ?? DEFAULT_RELEASE_TIMEOUT_MS);
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const name of names.sort()) {
      if (!NAME_PATTERN.test(name)) continue;
      const pair = await Pair.resume(ctx, join(dir, name));
      if (pair) m.pairs.set(name, pair);
      else await m.removeOrphan(name);
    }
    return m;
  }

  /** A start that crashed before its record was written: its directory and pair bitmap go. */
  private async removeOrphan(name: string): Promise<void> {
    const bitmap = pairBitmapName(name);
    for (const v of this.ctx.storage.listVolumes()) {
      if (v.bitmaps.includes(bitmap)) await this.ctx.storage.deleteBitmap(v.name, bitmap).catch(() => {});
    }
    await rm(join(this.dir, name), { recursive: true, force: true });
    this.ctx.logger.warn({ pair: name }, `removed an unfinished pair start (no ${PAIR_FILE})`);
  }

  /**
   * Start a pair from `volume` (SPEC S403, S404). Idempotent on the name: a pair that
   * exists on this volume is returned as it is (`created` false), whatever its state.
   */
  async start(volume: string, req: StartPairRequest): Promise<{ view: PairView; created: boolean }> {
    return this.serial(req.name, async () => {
      this.checkOpen();
      const known = this.pairs.get(req.name);
      if (known) {
        if (known.volume !== volume) {
          throw new ReboundError(
            'CONFLICT',
            `pair ${req.name} exists on volume ${known.volume}, not ${volume}`,
          );
        }
        return { view: known.view(), created: false };
      }
      const { storage } = this.ctx;
      const vol = storage.getVolume(volume); // NOT_FOUND
      const other = [...this.pairs.values()].find((p) => p.volume === volume && p.live);
      if (other) {
        throw new ReboundError(
          'BUSY',
          `volume ${volume} already has pair ${other.name}; one pair per volume`,
        );
      }
      if (req.mode === 'delta') this.checkDeltaBitmaps(volume, req);
      const baseSet = async () => {
        if (req.mode !== 'delta') return null;
        if (req.freezeFrom)
          await freezeInto(storage, volume, req.freezeFrom, req.bitmap!, `pair.${req.name}`);
        return storage.getBitmapGrainSet(volume, req.bitmap!);
      };
      const record = newRecord({
        name: req.name,
        volume: vol.name,
        mode: req.mode,
        bitmap: req.mode === 'delta' ? req.bitmap! : null,
        target: storeTarget(req.target, this.ctx.secrets),
        pairBitmap: pairBitmapName(req.name),
      });
      const pair = await Pair.create(this.ctx, join(this.dir, req.name), record, baseSet);
      this.pairs.set(req.name, pair);
      return { view: pair.view(), created: true };
    });
  }

  private checkDeltaBitmaps(volume: string, req: StartPairRequest): void {
    const { storage } = this.ctx;
    const bad = (field: string, why: string) =>
      new ReboundError('INVALID_ARGUMENT', `${field}: ${why}`, { detail: { field } });
    if (!req.bitmap) throw bad('bitmap', 'a delta pair needs the name of a frozen bitmap');
    const bitmaps = storage.listBitmaps(volume);
    const b = bitmaps.find((x) => x.name === req.bitmap);
    if (req.freezeFrom) {
      const from = bitmaps.find((x) => x.name === req.freezeFrom);
      if (!from) throw new ReboundError('NOT_FOUND', `bitmap ${volume}/${req.freezeFrom} not found`);
      if (!from.active) throw bad('freezeFrom', `${volume}/${req.freezeFrom} is frozen, not active`);
      if (b?.active) throw bad('bitmap', `${volume}/${req.bitmap} is active; name a frozen or new one`);
      return;
    }
    if (!b) throw new ReboundError('NOT_FOUND', `bitmap ${volume}/${req.bitmap} not found`);
    if (b.active) {
      throw bad('bitmap', `${volume}/${req.bitmap} is active; freeze it first (or pass freezeFrom)`);
    }
  }

  /** The pairs of a volume (NOT_FOUND when the volume does not exist and has none). */
  list(volume: string): PairView[] {
    const views = [...this.pairs.values()].filter((p) => p.volume === volume).map((p) => p.view());
    if (views.length === 0) this.ctx.storage.getVolume(volume);
    return views.sort((a, b) => a.name.localeCompare(b.name));
  }

  get(volume: string, name: string): PairView {
    return this.find(volume, name).view();
  }

  /** Resolves once the pair's state is not `whileState` (default: its state now), or after `waitMs` (a long poll). */
  changed(volume: string, name: string, waitMs: number, whileState?: PairState): Promise<void> {
    return this.find(volume, name).changed(waitMs, whileState);
  }

  /** Names of the volume's pairs, any state (deleting the volume is BUSY while there is one). */
  pairsOf(volume: string): string[] {
    return [...this.pairs.values()].filter((p) => p.volume === volume).map((p) => p.name);
  }

  release(volume: string, name: string): Promise<PairView> {
    this.checkOpen();
    return this.find(volume, name).release(this.releaseTimeoutMs);
  }

  async delete(volume: string, name: string): Promise<void> {
    await this.serial(name, async () => {
      const pair = this.find(volume, name);
      await pair.delete();
      this.pairs.delete(name);
    });
  }

  /** Node stop: every pair stops where it is and resumes at the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.busy.values()]);
    await Promise.all([...this.pairs.values()].map((p) => p.stop()));
  }

  private find(volume: string, name: string): Pair {
    const p = this.pairs.get(name);
    if (!p || p.volume !== volume) {
      throw new ReboundError('NOT_FOUND', `pair ${volume}/${name} not found`, {
        detail: { volume, pair: name },
      });
    }
    return p;
  }

  private checkOpen(): void {
    if (this.closed) throw new ReboundError('SHUTTING_DOWN', 'the node is stopping');
  }

  /** Run `fn` after any start or delete of the same name has finished. */
  private async serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    for (;;) {
      const prev = this.busy.get(name);
      if (!prev) break;
      await prev.catch(() => {});
    }
    const p = fn();
    this.busy.set(name, p);
    try {
      return await p;
    } finally {
      if (this.busy.get(name) === p) this.busy.delete(name);
    }
  }
}
