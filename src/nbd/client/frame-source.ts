/**
 * Awaitable frames from a socket, for the handshake (which is a strict ask-and-answer
 * exchange, so an `await next(decode)` reads naturally). A decoder from the codecs is
 * retried as bytes arrive; a connection that ends first is a short read, reported as
 * NBD_DISCONNECTED with how far the frame had come.
 *
 * At STARTTLS and at the start of transmission the socket changes hands: `detach` stops
 * listening and returns whatever bytes were queued.
 */
import type { Duplex } from 'node:stream';
import { ReboundError } from '../../errors.js';
import { FrameReader } from '../frame-reader.js';

export class FrameSource {
  private readonly reader = new FrameReader();
  private wake: (() => void) | undefined;
  private ended: Error | undefined;

  constructor(private readonly stream: Duplex) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onError);
  }

  /** The next frame `decode` accepts; `what` names it in the error if the connection ends first. */
  async next<T>(decode: (reader: FrameReader) => T | undefined, what: string): Promise<T> {
    for (;;) {
      const frame = decode(this.reader);
      if (frame !== undefined) return frame;
      if (this.ended !== undefined) {
        const got = this.reader.length;
        throw new ReboundError(
          'NBD_DISCONNECTED',
          `the NBD server closed the connection while we waited for ${what}` +
            (got > 0 ? ` (short read: ${got} bytes of it had come)` : '') +
            (this.ended.message ? `: ${this.ended.message}` : ''),
          { cause: this.ended },
        );
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** Stop reading from the stream; the bytes already queued are returned. */
  detach(): Buffer {
    this.stream.removeListener('data', this.onData);
    this.stream.removeListener('end', this.onEnd);
    this.stream.removeListener('close', this.onEnd);
    this.stream.removeListener('error', this.onError);
    this.stream.pause();
    return this.reader.drain();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.reader.push(chunk);
    this.poke();
  };

  private readonly onEnd = (): void => {
    this.ended ??= new Error('');
    this.poke();
  };

  private readonly onError = (err: Error): void => {
    this.ended ??= err;
    this.poke();
  };

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
