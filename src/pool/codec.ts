/**
 * Little helpers to build and parse the pool's binary records (docs/formats/pool.md).
 * All integers are big-endian; strings are a u16 byte length then UTF-8.
 */
import { ReboundError } from '../errors.js';

export class ByteWriter {
  private buf: Buffer;
  private at = 0;

  constructor(initialBytes = 64) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.at++] = v;
    return this;
  }

  u16(v: number): this {
    this.room(2);
    this.at = this.buf.writeUInt16BE(v, this.at);
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.at = this.buf.writeUInt32BE(v >>> 0, this.at);
    return this;
  }

  /** A safe integer as u64. */
  u64(v: number): this {
    this.room(8);
    this.buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), this.at);
    this.buf.writeUInt32BE(v >>> 0, this.at + 4);
    this.at += 8;
    return this;
  }

  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    this.u16(b.length);
    return this.bytes(b);
  }

  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }

  /** u32 length then the bytes. */
  blob(b: Uint8Array): this {
    this.u32(b.length);
    return this.bytes(b);
  }

  get length(): number {
    return this.at;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

export class ByteReader {
  private at = 0;

  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.at + n > this.buf.length) {
      throw new ReboundError(
        'POOL_CORRUPT',
        `record too short: need ${n} bytes at ${this.at} of ${this.buf.length}`,
      );
    }
  }

  u8(): number {
    this.need(1);
    return this.buf[this.at++];
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const v = this.buf.readUInt32BE(this.at) * 0x1_0000_0000 + this.buf.readUInt32BE(this.at + 4);
    this.at += 8;
    return v;
  }

  str(): string {
    const n = this.u16();
    this.need(n);
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }

  blob(): Buffer {
    return this.bytes(this.u32());
  }

  get remaining(): number {
    return this.buf.length - this.at;
  }
}
