/**
 * The transmission phase for one connection: runs validated requests against the
 * export's device and hands finished replies to a sink. No sockets here.
 *
 * Requests run concurrently; each reply is handed to the sink as one list of buffers
 * (header, then data) that the connection writes as one burst. Replies go out in
 * completion order with the request's cookie, which qemu and libnbd rely on.
 *
 * Reply shapes:
 *   READ, structured:   OFFSET_DATA(DONE) with the whole range, or NONE for 0 bytes,
 *                       or ERROR(DONE). One chunk, so DF is always honoured.
 *   READ, simple:       simple reply + data, or simple reply with the error.
 *   BLOCK_STATUS:       one BLOCK_STATUS chunk per selected context, DONE on the last;
 *                       all computed first, so a failure is one ERROR chunk instead.
 *   everything else:    a simple reply (allowed even with structured replies).
 */
import type { BlockSet } from '../block/block-set.js';
import type { Extent } from '../block/device.js';
import { type NbdErrno, ReboundError, toReboundError } from '../errors.js';
import {
  COMMAND_NAMES,
  MAX_EXTENTS_PER_CHUNK,
  MAX_PAYLOAD_BYTES,
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_ERRNO,
  NBD_REPLY_FLAG_DONE,
  NBD_STATE_DIRTY,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
} from './constants.js';
import type { NbdExport } from './export.js';
import type { NbdLogger } from './logger.js';
import type { SelectedContext } from './meta-context.js';
import type { ReplyBuffers } from './reply-buffers.js';
import {
  type BlockStatusDescriptor,
  encodeBlockStatusChunk,
  encodeErrorChunk,
  encodeNoneChunk,
  encodeOffsetDataHeader,
  encodeSimpleReply,
  type NbdRequest,
} from './transmission-codec.js';
import { validateRequest } from './validate.js';

/**
 * Where finished replies go: the buffers of one reply, to be written back to back, and
 * what to call once they are written (or dropped with the connection): the read's buffer
 * may then be used again.
 */
export type ReplySink = (buffers: Buffer[], written?: () => void) => void;

export class TransmissionSession {
  constructor(
    private readonly ex: NbdExport,
    private readonly structuredReplies: boolean,
    private readonly contexts: readonly SelectedContext[],
    private readonly send: ReplySink,
    private readonly logger: NbdLogger,
    private readonly logContext: Record<string, unknown> = {},
    /** READ replies' data buffers, shared by the server's connections (reply-buffers.ts). */
    private readonly buffers?: ReplyBuffers,
  ) {}

  /** Run one request (not DISC) and send its reply. Never rejects. */
  async handle(req: NbdRequest): Promise<void> {
    const device = this.ex.device;
    const fault = validateRequest(req, {
      sizeBytes: device.sizeBytes,
      readOnly: device.readOnly,
      structuredReplies: this.structuredReplies,
      metaContextCount: this.contexts.length,
      maxPayloadBytes: MAX_PAYLOAD_BYTES,
    });
    if (fault !== undefined) {
      this.logger.debug(
        { ...this.logContext, command: COMMAND_NAMES[req.type] ?? req.type, ...fault },
        'request refused',
      );
      this.fail(req, fault.errno, fault.message);
      return;
    }
    try {
      await this.run(req);
    } catch (err) {
      const e = toReboundError(err);
      let errno = e.nbdErrno;
      // ENOTSUP is only meaningful as the fast failure of a FAST_ZERO request.
      if (errno === 'ENOTSUP' && !(req.type === NBD_CMD_WRITE_ZEROES && req.flags & NBD_CMD_FLAG_FAST_ZERO)) {
        errno = 'EIO';
      }
      const level = e.code === 'INTERNAL' ? 'error' : 'debug';
      this.logger[level](
        {
          ...this.logContext,
          command: COMMAND_NAMES[req.type],
          offset: req.offset,
          length: req.length,
          code: e.code,
          err: e,
        },
        'request failed',
      );
      this.fail(req, errno, e.message);
    }
  }

  private async run(req: NbdRequest): Promise<void> {
    const device = this.ex.device;
    const fua = (req.flags & NBD_CMD_FLAG_FUA) !== 0;
    switch (req.type) {
      case NBD_CMD_READ:
        return this.read(req);
      case NBD_CMD_WRITE:
        await device.write(req.offset, req.data!, { fua });
        break;
      case NBD_CMD_WRITE_ZEROES:
        await device.writeZeroes(req.offset, req.length, {
          fua,
          noHole: (req.flags & NBD_CMD_FLAG_NO_HOLE) !== 0,
          fastOnly: (req.flags & NBD_CMD_FLAG_FAST_ZERO) !== 0,
        });
        break;
      case NBD_CMD_TRIM:
        await device.trim(req.offset, req.length, { fua });
        break;
      case NBD_CMD_FLUSH:
        await device.flush();
        break;
      case NBD_CMD_CACHE:
        break; // advisory; the range was validated
      case NBD_CMD_BLOCK_STATUS:
        return this.blockStatus(req);
      default:
        throw new ReboundError('INTERNAL', `command ${req.type} passed validation but has no handler`);
    }
    this.send([encodeSimpleReply(req.cookie, 0)]);
  }

  private async read(req: NbdRequest): Promise<void> {
    if (req.length === 0) {
      this.send([this.structuredReplies ? encodeNoneChunk(req.cookie) : encodeSimpleReply(req.cookie, 0)]);
      return;
    }
    const device = this.ex.device;
    if (this.buffers !== undefined && device.readInto !== undefined) {
      const buffers = this.buffers;
      const data = buffers.take(req.length);
      try {
        await device.readInto(req.offset, data);
      } catch (err) {
        buffers.give(data);
        throw err;
      }
      this.send([this.readHeader(req, data.length), data], () => buffers.give(data));
      return;
    }
    const data = await device.read(req.offset, req.length);
    if (data.length !== req.length) {
      // Sending a short buffer would desynchronise the stream: fail the request instead.
      throw new ReboundError(
        'INTERNAL',
        `device returned ${data.length} bytes for a ${req.length}-byte read`,
      );
    }
    this.send([this.readHeader(req, data.length), data]);
  }

  private readHeader(req: NbdRequest, length: number): Buffer {
    return this.structuredReplies
      ? encodeOffsetDataHeader(req.cookie, req.offset, length, NBD_REPLY_FLAG_DONE)
      : encodeSimpleReply(req.cookie, 0);
  }

  private async blockStatus(req: NbdRequest): Promise<void> {
    const reqOne = (req.flags & NBD_CMD_FLAG_REQ_ONE) !== 0;
    const chunks: Buffer[] = [];
    for (let i = 0; i < this.contexts.length; i++) {
      const ctx = this.contexts[i];
      const descriptors =
        ctx.source.kind === 'allocation'
          ? await this.allocation(req.offset, req.length, reqOne)
          : this.dirty(ctx.source.bitmap, req.offset, req.length, reqOne);
      const done = i === this.contexts.length - 1 ? NBD_REPLY_FLAG_DONE : 0;
      chunks.push(encodeBlockStatusChunk(req.cookie, ctx.id, descriptors, done));
    }
    this.send(chunks);
  }

  /** base:allocation from the device's extents, merged, clipped, capped. */
  private async allocation(
    offset: number,
    length: number,
    reqOne: boolean,
  ): Promise<BlockStatusDescriptor[]> {
    const extents: Extent[] = await this.ex.device.blockStatus(offset, length);
    if (extents.length === 0 || extents[0].offset !== offset) {
      throw new ReboundError('INTERNAL', `device block status for ${offset} broke its contract`);
    }
    const out: BlockStatusDescriptor[] = [];
    let pos = offset;
    const end = offset + length;
    for (const e of extents) {
      if (pos >= end || e.offset !== pos || e.length <= 0) break;
      const len = Math.min(e.length, end - pos);
      const flags = (e.hole ? NBD_STATE_HOLE : 0) | (e.zero ? NBD_STATE_ZERO : 0);
      const last = out[out.length - 1];
      if (last !== undefined && last.flags === flags) last.length += len;
      else if (out.length < MAX_EXTENTS_PER_CHUNK) out.push({ length: len, flags });
      else break;
      pos += len;
      if (reqOne) break;
    }
    if (out.length === 0) throw new ReboundError('INTERNAL', `device block status for ${offset} was empty`);
    return reqOne ? out.slice(0, 1) : out;
  }

  /** qemu:dirty-bitmap:NAME from the bitmap's runs; blocks past the set's end are clean. */
  private dirty(name: string, offset: number, length: number, reqOne: boolean): BlockStatusDescriptor[] {
    const bitmap: BlockSet | undefined = this.ex.bitmap(name);
    if (bitmap === undefined) throw new ReboundError('NOT_FOUND', `bitmap ${name} no longer exists`);
    const granularity = this.ex.device.blockSizeBytes;
    const setEnd = bitmap.sizeBlocks;
    const end = offset + length;
    const out: BlockStatusDescriptor[] = [];
    let pos = offset;
    while (pos < end && out.length < MAX_EXTENTS_PER_CHUNK) {
      const block = Math.floor(pos / granularity);
      const dirty = bitmap.has(block);
      let stop: number;
      if (block >= setEnd) stop = end;
      else {
        const next = bitmap.nextWith(!dirty, block, setEnd);
        stop = next >= setEnd && !dirty ? end : next * granularity;
      }
      stop = Math.min(stop, end);
      out.push({ length: stop - pos, flags: dirty ? NBD_STATE_DIRTY : 0 });
      pos = stop;
      if (reqOne) break;
    }
    return out;
  }

  private fail(req: NbdRequest, errno: NbdErrno, message: string): void {
    const code = NBD_ERRNO[errno];
    const structured =
      this.structuredReplies && (req.type === NBD_CMD_READ || req.type === NBD_CMD_BLOCK_STATUS);
    this.send([
      structured ? encodeErrorChunk(req.cookie, code, message) : encodeSimpleReply(req.cookie, code),
    ]);
  }
}
