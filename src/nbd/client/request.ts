/**
 * One request on the wire and the assembly of its reply. No sockets: the connection
 * feeds it simple replies and structured chunks for its cookie; it says when the reply
 * is complete and what it came to (data, block status, or the server's error).
 *
 * Structured reply rules enforced here (proto.md, "Structured reply types"): content
 * chunks only for READ and inside the requested range, BLOCK_STATUS chunks only for
 * BLOCK_STATUS, NONE only with DONE and no payload, a successful READ covered exactly,
 * unknown non-error types refused. A violation throws NbdProtocolError: the connection
 * is dropped (after that nothing on the stream can be trusted). Error chunks fail the
 * request alone; the first error wins.
 */
import {
  COMMAND_NAMES,
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_ERRNO,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_ERROR_BIT,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REPLY_TYPE_OFFSET_HOLE,
} from '../constants.js';
import { NbdProtocolError } from '../protocol-error.js';
import {
  type BlockStatusDescriptor,
  type ErrorChunk,
  parseBlockStatusChunk,
  parseErrorChunk,
  parseOffsetData,
  parseOffsetHole,
  type ReplyChunk,
} from '../transmission-codec.js';

let nextSeq = 1;

export class ClientRequest {
  /** Issue order, for re-sending in the original order after a reconnect. */
  readonly seq = nextSeq++;
  /** Set by the connection at each send. */
  cookie = 0n;
  /** How many times it went on the wire. */
  sends = 0;

  private covered = 0;
  private statuses: Map<number, BlockStatusDescriptor[]> | undefined;
  private firstError: ErrorChunk | undefined;

  /**
   * @param target For READ: where the data goes, exactly `length` bytes (the caller's
   *   buffer or a slice of it), zero-filled by the caller.
   * @param data For WRITE: the payload, exactly `length` bytes.
   */
  constructor(
    readonly type: number,
    readonly flags: number,
    readonly offset: number,
    readonly length: number,
    readonly data?: Buffer,
    readonly target?: Buffer,
  ) {}

  /** Payload bytes this request moves on the wire (out for WRITE, in for READ). */
  get payloadBytes(): number {
    return this.type === NBD_CMD_WRITE || this.type === NBD_CMD_READ ? this.length : 0;
  }

  /** WRITE, WRITE_ZEROES and TRIM change the export. */
  get changesData(): boolean {
    return this.type === NBD_CMD_WRITE || this.type === NBD_CMD_WRITE_ZEROES || this.type === NBD_CMD_TRIM;
  }

  get name(): string {
    return COMMAND_NAMES[this.type] ?? String(this.type);
  }

  /** The server's error, once the reply is complete; undefined on success. */
  get error(): ErrorChunk | undefined {
    return this.firstError;
  }

  /** BLOCK_STATUS descriptors by context id, once the reply is complete. */
  get blockStatus(): ReadonlyMap<number, BlockStatusDescriptor[]> {
    return this.statuses ?? new Map();
  }

  /** Forget a partial reply before the request is sent again. */
  reset(): void {
    this.covered = 0;
    this.statuses = undefined;
    this.firstError = undefined;
  }

  /** A simple reply: always the whole reply. `data` is a successful READ's bytes. */
  onSimple(error: number, data: Buffer | undefined): void {
    if (error !== 0) {
      this.firstError = { errno: error, message: '' };
      return;
    }
    if (this.type === NBD_CMD_READ && this.length > 0) {
      if (data === undefined || data.length !== this.length) {
        throw new NbdProtocolError(`simple READ reply without its ${this.length} bytes`);
      }
      data.copy(this.target!);
    }
  }

  /** One structured chunk; returns true once the reply is complete (DONE). */
  onChunk(chunk: ReplyChunk): boolean {
    const { type, payload } = chunk;
    if (type & NBD_REPLY_TYPE_ERROR_BIT) {
      const err = parseErrorChunk(type, payload);
      // "MUST be nonzero"; and an unexpected value counts as EINVAL (proto.md, "Error values").
      if (err.errno === 0) err.errno = NBD_ERRNO.EINVAL;
      this.firstError ??= err;
    } else if (type === NBD_REPLY_TYPE_NONE) {
      if (payload.length !== 0 || !(chunk.flags & NBD_REPLY_FLAG_DONE)) {
        throw new NbdProtocolError('NONE chunk with a payload or without DONE');
      }
    } else if (type === NBD_REPLY_TYPE_OFFSET_DATA && this.type === NBD_CMD_READ) {
      const { offset, data } = parseOffsetData(payload);
      this.place(offset, data.length, 'OFFSET_DATA');
      data.copy(this.target!, offset - this.offset);
    } else if (type === NBD_REPLY_TYPE_OFFSET_HOLE && this.type === NBD_CMD_READ) {
      const { offset, length } = parseOffsetHole(payload);
      this.place(offset, length, 'OFFSET_HOLE');
      this.target!.fill(0, offset - this.offset, offset - this.offset + length);
    } else if (type === NBD_REPLY_TYPE_BLOCK_STATUS && this.type === NBD_CMD_BLOCK_STATUS) {
      const { contextId, descriptors } = parseBlockStatusChunk(payload);
      this.statuses ??= new Map();
      if (this.statuses.has(contextId)) {
        throw new NbdProtocolError(`two BLOCK_STATUS chunks for context ${contextId}`);
      }
      this.statuses.set(contextId, descriptors);
    } else {
      throw new NbdProtocolError(`reply chunk type ${type} is not valid for ${this.name}`);
    }
    if (!(chunk.flags & NBD_REPLY_FLAG_DONE)) return false;
    if (this.firstError === undefined && this.type === NBD_CMD_READ && this.covered !== this.length) {
      throw new NbdProtocolError(`READ reply covered ${this.covered} of ${this.length} bytes`);
    }
    return true;
  }

  private place(offset: number, length: number, what: string): void {
    if (offset < this.offset || offset + length > this.offset + this.length) {
      throw new NbdProtocolError(
        `${what} [${offset}, +${length}) outside the READ [${this.offset}, +${this.length})`,
      );
    }
    this.covered += length;
  }
}

/** FLUSH carries no range. */
export function flushRequest(): ClientRequest {
  return new ClientRequest(NBD_CMD_FLUSH, 0, 0, 0);
}
