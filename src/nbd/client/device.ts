/**
 * The NBD client as a BlockDevice (DESIGN.md: "an NBD client connection to another
 * node's export"): the target of a remote-copy failback and an external volume.
 *
 *   const dev = await connectNbd({ host, port, exportName: 'vol0', tls: { psk: { identity, key } } });
 *   await copyBlocks({ source, dest: dev, blocks });   // writes, then flush
 *   await dev.close();                                  // NBD_CMD_DISC once idle
 *
 * This file maps the device contract onto what the export advertises; the session
 * (session.ts) does the wire, the concurrency and the reconnects.
 * - Reads and writes larger than the server's maximum payload are split; pieces run
 *   concurrently. Requests are aligned to the server's minimum block size: reads are
 *   widened, unaligned writes read-modify-write their edge blocks under a range lock.
 * - FUA goes as NBD_CMD_FLAG_FUA when the export has SEND_FUA, else as write + flush.
 * - writeZeroes uses WRITE_ZEROES (NO_HOLE, FAST_ZERO when advertised), else writes zeros;
 *   `fastOnly` without FAST_ZERO support rejects with NOT_SUPPORTED.
 * - trim is advisory: without SEND_TRIM it does nothing.
 * - blockStatus reads `base:allocation` (or reports everything allocated when the server
 *   offers no such context); dirtyExtents reads a `qemu:dirty-bitmap:NAME` context.
 *
 * Durability, across reconnects: a write is durable once a later flush() resolves (or at
 * once with fua). The server may lose acknowledged writes when it crashes, so the caller
 * MUST flush before it treats data as safe (the copy engine does). Acknowledged writes
 * since the last successful flush are kept (bounded by maxUnflushedBytes) and re-sent
 * after a reconnect, so such a flush covers them; if one cannot be re-sent, every later
 * flush rejects.
 */
import type { BlockDevice, Extent, WriteOptions, ZeroOptions } from '../../block/device.js';
import { checkRange } from '../../block/range.js';
import { ReboundError } from '../../errors.js';
import {
  BASE_ALLOCATION,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_CACHE,
  NBD_FLAG_SEND_DF,
  NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
  NBD_STATE_DIRTY,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  QEMU_DIRTY_BITMAP_PREFIX,
} from '../constants.js';
import { type NbdClientOptions, resolveClientOptions } from './options.js';
import { RangeLock } from './range-lock.js';
import { ClientSession, type KeepData } from './session.js';
import { loadTlsClientOptions } from './tls.js';
import { openTransport } from './transport.js';

/** What the export and the handshake came to. */
export interface NbdExportInfo {
  exportName: string;
  sizeBytes: number;
  /** The raw NBD_FLAG_* transmission flags. */
  transmissionFlags: number;
  readOnly: boolean;
  canFlush: boolean;
  canFua: boolean;
  canTrim: boolean;
  canWriteZeroes: boolean;
  canFastZero: boolean;
  canMultiConn: boolean;
  canCache: boolean;
  canDf: boolean;
  /** From NBD_INFO_BLOCK_SIZE, or the spec's defaults (1 / 4096 / 32 MiB) without it. */
  minimumBlockBytes: number;
  preferredBlockBytes: number;
  maxPayloadBytes: number;
  blockSizeAdvertised: boolean;
  /** The server's NBD_INFO_DESCRIPTION of the export, if it sent one. */
  description: string | null;
  structuredReplies: boolean;
  tls: boolean;
}

/** An extent of a `qemu:dirty-bitmap:` context. */
export interface DirtyExtent {
  offset: number;
  length: number;
  dirty: boolean;
}

/** Our own cap per request even when a server allows more: bounds memory per request. */
const MAX_IO_BYTES = 32 * 1024 * 1024;
/** Cap for requests without payload (WRITE_ZEROES, TRIM, BLOCK_STATUS): well inside u32. */
const MAX_COMMAND_BYTES = 1024 * 1024 * 1024;

/** Connect, negotiate, and return the export as a BlockDevice. Fails with the handshake's error. */
export async function connectNbd(options: NbdClientOptions): Promise<NbdClientDevice> {
  const resolved = resolveClientOptions(options);
  const host = 'host' in resolved.endpoint ? resolved.endpoint.host : undefined;
  const tlsOptions = resolved.tls ? await loadTlsClientOptions(resolved.tls, host) : undefined;
  const open = () => openTransport(resolved, tlsOptions);
  return new NbdClientDevice(new ClientSession(resolved, open, await open()));
}

export class NbdClientDevice implements BlockDevice {
  private readonly locks = new RangeLock();
  private zeroBuffer: Buffer | undefined;

  /** Use connectNbd. */
  constructor(private readonly session: ClientSession) {}

  get sizeBytes(): number {
    return this.session.negotiated.sizeBytes;
  }

  /** The server's preferred block size (at least its minimum). */
  get blockSizeBytes(): number {
    const n = this.session.negotiated;
    return Math.max(n.preferredBlockBytes, n.minimumBlockBytes);
  }

  get readOnly(): boolean {
    return this.has(NBD_FLAG_READ_ONLY);
  }

  get info(): NbdExportInfo {
    const n = this.session.negotiated;
    return {
      exportName: n.exportName,
      sizeBytes: n.sizeBytes,
      transmissionFlags: n.transmissionFlags,
      readOnly: this.has(NBD_FLAG_READ_ONLY),
      canFlush: this.has(NBD_FLAG_SEND_FLUSH),
      canFua: this.has(NBD_FLAG_SEND_FUA),
      canTrim: this.has(NBD_FLAG_SEND_TRIM),
      canWriteZeroes: this.has(NBD_FLAG_SEND_WRITE_ZEROES),
      canFastZero: this.has(NBD_FLAG_SEND_FAST_ZERO),
      canMultiConn: this.has(NBD_FLAG_CAN_MULTI_CONN),
      canCache: this.has(NBD_FLAG_SEND_CACHE),
      canDf: this.has(NBD_FLAG_SEND_DF),
      minimumBlockBytes: n.minimumBlockBytes,
      preferredBlockBytes: n.preferredBlockBytes,
      maxPayloadBytes: n.maxPayloadBytes,
      blockSizeAdvertised: n.blockSizeAdvertised,
      description: n.description,
      structuredReplies: n.structuredReplies,
      tls: n.tls,
    };
  }

  /** The metadata contexts the server selected, of those asked for. */
  get metaContexts(): string[] {
    return [...this.session.negotiated.metaContexts.keys()];
  }

  /** Unflushed written bytes kept for replay after a reconnect. */
  get unflushedBytes(): number {
    return this.session.unflushedBytes;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    checkRange(this, offset, length);
    if (length === 0) return Buffer.alloc(0);
    const start = this.alignDown(offset);
    const end = this.alignUp(offset + length);
    // Zero-filled: even a server that breaks the protocol never shows us stale memory.
    const out = Buffer.alloc(end - start);
    await pieces(start, end, this.maxIoBytes, (at, n) =>
      this.session.read(at, out.subarray(at - start, at - start + n)),
    );
    return start === offset && end === offset + length
      ? out
      : out.subarray(offset - start, offset - start + length);
  }

  write(offset: number, data: Buffer, options: WriteOptions = {}): Promise<void> {
    try {
      checkRange(this, offset, data.length, true);
    } catch (err) {
      return Promise.reject(err);
    }
    if (data.length === 0) return Promise.resolve();
    const flags = this.fuaFlag(options);
    const keep: KeepData = options.handOff ? 'take' : 'copy';
    // One request, nothing to lock, no flush after it: straight to the session. A copy's
    // 4 KiB writes (20,000 a failback) skip five async steps each, in a secondary whose
    // code for them has never run.
    if (
      this.session.negotiated.minimumBlockBytes === 1 &&
      data.length <= this.maxIoBytes &&
      !(options.fua && !this.has(NBD_FLAG_SEND_FUA))
    )
      return this.session.write(offset, data, flags, keep);
    return this.writeLocked(offset, data, flags, keep, options);
  }

  private async writeLocked(
    offset: number,
    data: Buffer,
    flags: number,
    keep: KeepData,
    options: WriteOptions,
  ): Promise<void> {
    await this.locked(offset, data.length, () => this.writeUnlocked(offset, data, flags, keep));
    await this.fuaByFlush(options);
  }

  async writeZeroes(offset: number, length: number, options: ZeroOptions = {}): Promise<void> {
    checkRange(this, offset, length, true);
    if (length === 0) return;
    const flags = this.fuaFlag(options);
    if (!this.has(NBD_FLAG_SEND_WRITE_ZEROES)) {
      if (options.fastOnly) throw notSupported('WRITE_ZEROES');
      await this.locked(offset, length, () => this.writeZeroBuffers(offset, offset + length, flags));
    } else {
      if (options.fastOnly && !this.has(NBD_FLAG_SEND_FAST_ZERO)) throw notSupported('FAST_ZERO');
      const zeroFlags =
        flags | (options.noHole ? NBD_CMD_FLAG_NO_HOLE : 0) | (options.fastOnly ? NBD_CMD_FLAG_FAST_ZERO : 0);
      await this.locked(offset, length, async () => {
        // Unaligned edges (minimum block > 1) are written as data; the aligned middle is zeroed.
        const start = Math.min(this.alignUp(offset), offset + length);
        const end = Math.max(this.alignDownEnd(offset + length), start);
        await Promise.all([
          start > offset ? this.writeZeroBuffers(offset, start, flags) : undefined,
          end < offset + length ? this.writeZeroBuffers(end, offset + length, flags) : undefined,
          pieces(start, end, this.maxCommandBytes, (at, n) => this.session.writeZeroes(at, n, zeroFlags)),
        ]);
      });
    }
    await this.fuaByFlush(options);
  }

  async trim(offset: number, length: number, options: WriteOptions = {}): Promise<void> {
    checkRange(this, offset, length, true);
    if (!this.has(NBD_FLAG_SEND_TRIM)) return; // advisory: doing nothing keeps the old data
    const start = this.alignUp(offset);
    const end = this.alignDownEnd(offset + length);
    if (end <= start) return;
    const flags = this.fuaFlag(options);
    await this.locked(start, end - start, () =>
      pieces(start, end, this.maxCommandBytes, (at, n) => this.session.trim(at, n, flags)),
    );
    await this.fuaByFlush(options);
  }

  flush(): Promise<void> {
    return this.session.flush();
  }

  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    checkRange(this, offset, length);
    if (length === 0) return [];
    if (!this.session.negotiated.metaContexts.has(BASE_ALLOCATION)) {
      return [{ offset, length, hole: false, zero: false }]; // always safe
    }
    const out: Extent[] = [];
    for (const e of await this.contextExtents(BASE_ALLOCATION, offset, length)) {
      const zero = (e.flags & NBD_STATE_ZERO) !== 0;
      // A hole that does not read as zeros (a backing file shows through) is data to us.
      const hole = zero && (e.flags & NBD_STATE_HOLE) !== 0;
      const last = out[out.length - 1];
      if (last !== undefined && last.hole === hole && last.zero === zero) last.length += e.length;
      else out.push({ offset: e.offset, length: e.length, hole, zero });
    }
    return out;
  }

  /**
   * Dirty and clean ranges of a `qemu:dirty-bitmap:NAME` context (asked for in
   * `metaContexts` at connect), from `offset`, covering at most `length` bytes: call
   * again from the end of the last extent for the rest.
   */
  async dirtyExtents(context: string, offset: number, length: number): Promise<DirtyExtent[]> {
    if (!context.startsWith(QEMU_DIRTY_BITMAP_PREFIX)) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `${context} is not a ${QEMU_DIRTY_BITMAP_PREFIX}NAME context`,
        {
          detail: { field: 'context' },
        },
      );
    }
    checkRange(this, offset, length);
    if (length === 0) return [];
    const out: DirtyExtent[] = [];
    for (const e of await this.contextExtents(context, offset, length)) {
      const dirty = (e.flags & NBD_STATE_DIRTY) !== 0;
      const last = out[out.length - 1];
      if (last !== undefined && last.dirty === dirty) last.length += e.length;
      else out.push({ offset: e.offset, length: e.length, dirty });
    }
    return out;
  }

  /** Wait for every request, then NBD_CMD_DISC. The caller flushes first if it needs durability. */
  close(): Promise<void> {
    return this.session.close();
  }

  // ---- helpers ----

  /** One BLOCK_STATUS, its descriptors for `context` clipped to [offset, offset + length). */
  private async contextExtents(
    context: string,
    offset: number,
    length: number,
  ): Promise<{ offset: number; length: number; flags: number }[]> {
    const id = this.session.negotiated.metaContexts.get(context);
    if (id === undefined) {
      throw new ReboundError(
        'NOT_FOUND',
        `metadata context ${context} was not selected on this connection (selected: ${this.metaContexts.join(', ') || 'none'}); ask for it in metaContexts`,
        { detail: { context } },
      );
    }
    const start = this.alignDown(offset);
    const end = offset + length;
    const statuses = await this.session.blockStatus(
      start,
      Math.min(this.alignUp(end) - start, this.maxCommandBytes),
    );
    const descriptors = statuses.get(id);
    if (descriptors === undefined) {
      throw new ReboundError(
        'NBD_PROTOCOL',
        `the NBD server's block status reply has no chunk for ${context}`,
      );
    }
    const out: { offset: number; length: number; flags: number }[] = [];
    let pos = start;
    for (const d of descriptors) {
      const from = Math.max(pos, offset);
      const to = Math.min(pos + d.length, end);
      if (to > from) out.push({ offset: from, length: to - from, flags: d.flags });
      pos += d.length;
      if (pos >= end) break;
    }
    if (out.length === 0) {
      throw new ReboundError(
        'NBD_PROTOCOL',
        `the NBD server's block status for ${context} stopped before ${offset}`,
      );
    }
    return out;
  }

  /** Write with read-modify-write of unaligned edges (minimum block > 1); the caller holds the lock. */
  private async writeUnlocked(offset: number, data: Buffer, flags: number, keep: KeepData): Promise<void> {
    const start = this.alignDown(offset);
    const end = this.alignUp(offset + data.length);
    let at = offset;
    let payload = data;
    if (start !== offset || end !== offset + data.length) {
      const min = this.session.negotiated.minimumBlockBytes;
      const buf = Buffer.alloc(end - start);
      const needHead = start < offset;
      // The block holding the first byte after the write (its end is unaligned here).
      const tailStart = this.alignDown(offset + data.length);
      const needTail = end > offset + data.length && !(needHead && tailStart === start);
      await Promise.all([
        needHead
          ? this.read(start, Math.min(start + min, end) - start).then((b) => b.copy(buf, 0))
          : undefined,
        needTail
          ? this.read(tailStart, end - tailStart).then((b) => b.copy(buf, tailStart - start))
          : undefined,
      ]);
      data.copy(buf, offset - start);
      payload = buf;
      at = start;
      keep = 'take'; // our own buffer, never changed after this
    }
    await pieces(at, at + payload.length, this.maxIoBytes, (p, n) =>
      this.session.write(p, payload.subarray(p - at, p - at + n), flags, keep),
    );
  }

  /** Zeros as WRITEs of one shared zero buffer (never changed, so kept for replay without copies). */
  private writeZeroBuffers(start: number, end: number, flags: number): Promise<void> {
    this.zeroBuffer ??= Buffer.alloc(this.maxIoBytes);
    const zeros = this.zeroBuffer;
    return pieces(start, end, this.maxIoBytes, (at, n) =>
      this.writeUnlocked(at, zeros.subarray(0, n), flags, 'shared'),
    );
  }

  /** Hold the range (rounded out to blocks) while `body` runs, when blocks are bigger than a byte. */
  private async locked(offset: number, length: number, body: () => Promise<void>): Promise<void> {
    if (this.session.negotiated.minimumBlockBytes === 1) return body();
    const release = await this.locks.lock(this.alignDown(offset), this.alignUp(offset + length));
    try {
      await body();
    } finally {
      release();
    }
  }

  private fuaFlag(options: WriteOptions): number {
    return options.fua && this.has(NBD_FLAG_SEND_FUA) ? NBD_CMD_FLAG_FUA : 0;
  }

  /** FUA on a server without SEND_FUA: a flush after the write gives the same promise. */
  private async fuaByFlush(options: WriteOptions): Promise<void> {
    if (options.fua && !this.has(NBD_FLAG_SEND_FUA)) await this.flush();
  }

  private has(flag: number): boolean {
    return (this.session.negotiated.transmissionFlags & flag) !== 0;
  }

  private get maxIoBytes(): number {
    const n = this.session.negotiated;
    return Math.max(
      n.minimumBlockBytes,
      alignDown(Math.min(n.maxPayloadBytes, MAX_IO_BYTES), n.minimumBlockBytes),
    );
  }

  private get maxCommandBytes(): number {
    return alignDown(MAX_COMMAND_BYTES, this.session.negotiated.minimumBlockBytes);
  }

  private alignDown(n: number): number {
    return alignDown(n, this.session.negotiated.minimumBlockBytes);
  }

  /** Round up, but never past the end of the export (whose size need not be aligned). */
  private alignUp(n: number): number {
    const min = this.session.negotiated.minimumBlockBytes;
    return Math.min(Math.ceil(n / min) * min, this.sizeBytes);
  }

  /** Round an end down, except the export's own end, which is always allowed. */
  private alignDownEnd(n: number): number {
    return n === this.sizeBytes ? n : this.alignDown(n);
  }
}

function alignDown(n: number, to: number): number {
  return n - (n % to);
}

/** Run `fn` on consecutive pieces of [start, end) of at most `max` bytes, concurrently. */
async function pieces(
  start: number,
  end: number,
  max: number,
  fn: (at: number, n: number) => Promise<void>,
): Promise<void> {
  const all: Promise<void>[] = [];
  for (let at = start; at < end; at += max) all.push(fn(at, Math.min(max, end - at)));
  await Promise.all(all);
}

function notSupported(what: string): ReboundError {
  return new ReboundError(
    'NOT_SUPPORTED',
    `the NBD export does not advertise ${what}, so zeroing cannot be faster than writing`,
  );
}
