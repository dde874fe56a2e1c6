/**
 * Pair keys: the TLS pre-shared keys the manager installs on a primary node for a
 * failback (DESIGN.md, "Promises": between sites NBD runs over TLS). At most one per
 * volume; while a volume has one:
 *
 *   - the NBD server accepts STARTTLS with that key, even when node.json says TLS off
 *     (NbdServer.addPsk: such a server offers STARTTLS as 'optional');
 *   - the volume's export opens only for a connection the key authenticated: any other
 *     (plaintext, another key, x509) is refused with VOLUME_RESERVED, and the ones open
 *     when the key is installed are dropped, so no host writes into a volume mid-failback;
 *   - snapshots (VOLUME@SNAP) and other volumes are untouched.
 *
 * Kept in `pair-keys.json` with each key sealed by the node's SecretBox, so a restarted
 * node still accepts the pair. A key is never returned or logged: views carry the
 * identity and how many TLS sessions it opened. Installing a key on a volume replaces
 * the one it had (the manager runs one failback per primary at a time; a failed job's
 * key is replaced by the next job's, or removed by hand with DELETE).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ReboundError } from '../errors.js';
import type { NbdPeer, NbdServer, NbdSessionInfo } from '../nbd/index.js';
import { writeFileAtomic } from '../pool/index.js';
import type { SecretBox } from '../secrets.js';

const FILE = 'pair-keys.json';

interface StoredPairKey {
  volume: string;
  identity: string;
  sealedKey: string;
  installedAt: string;
}

/** A pair key as the API shows it: never the key. */
export interface PairKeyView {
  volume: string;
  identity: string;
  installedAt: string;
  /** NBD connections that entered transmission under this identity since the node started. */
  tlsSessions: number;
  lastSessionAt: string | null;
}

type KeyServer = Pick<NbdServer, 'addPsk' | 'removePsk' | 'dropConnections'>;

export class PairKeys {
  private server: KeyServer | undefined;
  private readonly sessions = new Map<string, { count: number; lastAt: string | null }>();

  private constructor(
    private readonly dataDir: string,
    private readonly box: SecretBox,
    private keys: StoredPairKey[],
  ) {}

  static async open(dataDir: string, box: SecretBox): Promise<PairKeys> {
    let keys: StoredPairKey[] = [];
    try {
      keys = JSON.parse(await readFile(join(dataDir, FILE), 'utf8')) as StoredPairKey[];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return new PairKeys(dataDir, box, keys);
  }

  /** Give the NBD server every stored key (at node start, before it listens). */
  attach(server: KeyServer): void {
    this.server = server;
    for (const k of this.keys) server.addPsk(k.identity, Buffer.from(this.box.open(k.sealedKey), 'hex'));
  }

  list(): PairKeyView[] {
    return this.keys.map((k) => this.view(k));
  }

  get(volume: string): PairKeyView {
    const k = this.keys.find((x) => x.volume === volume);
    if (!k) throw new ReboundError('NOT_FOUND', `volume ${volume} has no pair key`, { detail: { volume } });
    return this.view(k);
  }

  /** Idempotent: the same identity and key again changes nothing (and drops no pair connection). */
  async install(volume: string, identity: string, keyHex: string, now: string): Promise<PairKeyView> {
    const old = this.keys.find((x) => x.volume === volume);
    const same = old?.identity === identity && this.box.open(old.sealedKey) === keyHex.toLowerCase();
    if (!same) {
      const entry = { volume, identity, sealedKey: this.box.seal(keyHex.toLowerCase()), installedAt: now };
      const removed = this.keys.filter((x) => x.volume === volume || x.identity === identity);
      this.keys = [...this.keys.filter((x) => !removed.includes(x)), entry];
      await this.save();
      for (const r of removed) if (r.identity !== identity) this.server?.removePsk(r.identity);
      this.server?.addPsk(identity, Buffer.from(keyHex, 'hex'));
    }
    // Hosts connected before (the volume may be unfenced next) lose the export now.
    this.server?.dropConnections(
      (c) => c.export === volume && c.pskIdentity !== identity,
      `volume ${volume} is kept for the pair ${identity}`,
    );
    return this.get(volume);
  }

  /** Remove the volume's key (only if it is `identity`'s, when given); null when there was none. */
  async remove(volume: string, identity?: string): Promise<PairKeyView | null> {
    const k = this.keys.find(
      (x) => x.volume === volume && (identity === undefined || x.identity === identity),
    );
    if (!k) return null;
    const view = this.view(k);
    this.keys = this.keys.filter((x) => x !== k);
    await this.save();
    this.server?.removePsk(k.identity);
    return view;
  }

  /** The export provider's check: a reserved volume opens only for its pair's TLS session. */
  checkOpen(volume: string, peer: NbdPeer | undefined): void {
    const k = this.keys.find((x) => x.volume === volume);
    if (!k || (peer?.tls && peer.pskIdentity === k.identity)) return;
    throw new ReboundError(
      'VOLUME_RESERVED',
      `volume ${volume} is the target of a failback (pair ${k.identity}): only that pair's TLS connection ` +
        'may open it until the failback releases it. A failback that failed keeps it held, so that no host ' +
        'writes into a half-copied volume: fail back again to finish the copy',
      { detail: { volume, identity: k.identity } },
    );
  }

  /** The NBD server's onTransmission: count the sessions each pair identity opened. */
  noteSession(info: NbdSessionInfo, now: string): void {
    if (info.pskIdentity === null || !this.keys.some((k) => k.identity === info.pskIdentity)) return;
    const s = this.sessions.get(info.pskIdentity) ?? { count: 0, lastAt: null };
    this.sessions.set(info.pskIdentity, { count: s.count + 1, lastAt: now });
  }

  private view(k: StoredPairKey): PairKeyView {
    const s = this.sessions.get(k.identity);
    return {
      volume: k.volume,
      identity: k.identity,
      installedAt: k.installedAt,
      tlsSessions: s?.count ?? 0,
      lastSessionAt: s?.lastAt ?? null,
    };
  }

  private save(): Promise<void> {
    return writeFileAtomic(join(this.dataDir, FILE), Buffer.from(`${JSON.stringify(this.keys, null, 2)}\n`));
  }
}
