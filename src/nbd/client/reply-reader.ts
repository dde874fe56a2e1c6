/**
 * Turns the reply stream into whole replies. The codec's decodeReply frames simple
 * replies and structured chunks; what it cannot frame is a simple reply's READ data,
 * which has no length on the wire: only the client knows, from the request the cookie
 * names. This keeps that one piece of state, so a reply split anywhere (header, data)
 * comes out the same.
 */
import type { FrameReader } from '../frame-reader.js';
import { decodeReply, type ReplyChunk } from '../transmission-codec.js';

export interface SimpleReplyEvent {
  kind: 'simple';
  cookie: bigint;
  error: number;
  /** A successful READ's data (exactly the request's length). */
  data?: Buffer;
}

export type ReplyEvent = SimpleReplyEvent | ReplyChunk;

export class ReplyReader {
  private awaitingData: { cookie: bigint; length: number } | undefined;

  /**
   * @param readLength For a cookie, the length of the READ it names, or undefined when it
   *   is not a READ: a successful simple reply to a READ is followed by that many bytes.
   * @param maxChunkBytes Largest structured chunk accepted (the codec refuses bigger ones).
   */
  constructor(
    private readonly readLength: (cookie: bigint) => number | undefined,
    private readonly maxChunkBytes: number,
  ) {}

  /** The next whole reply, or undefined until more bytes come. */
  next(reader: FrameReader): ReplyEvent | undefined {
    if (this.awaitingData !== undefined) {
      const { cookie, length } = this.awaitingData;
      const data = reader.take(length);
      if (data === undefined) return undefined;
      this.awaitingData = undefined;
      return { kind: 'simple', cookie, error: 0, data };
    }
    const reply = decodeReply(reader, this.maxChunkBytes);
    if (reply === undefined || reply.kind === 'chunk') return reply;
    const length = reply.error === 0 ? this.readLength(reply.cookie) : undefined;
    if (length === undefined || length === 0)
      return { kind: 'simple', cookie: reply.cookie, error: reply.error };
    this.awaitingData = { cookie: reply.cookie, length };
    return this.next(reader);
  }
}
