/**
 * FaultyStore: a test tool (STYLE.md point 10) that wraps another ObjectStore and, on
 * demand, fails, delays or corrupts what passes through, like nbdkit's error and delay
 * filters. Backup, restore and verify tests use it to prove that a store error is
 * reported with its key, that retries happen, and that a damaged object is caught.
 *
 *   const store = new FaultyStore(new DirectoryStore(dir));
 *   store.failNext({ ops: ['put'], key: /data\//, count: 2 });   // two puts fail IO_ERROR
 *   store.failNext({ ops: ['put'], when: 'after' });             // lands, answer lost
 *   store.corrupt({ key: 'gen/1/data/0' });                      // reads come back damaged
 *
 * Faults can be armed at construction or later; each is consumed as matching calls
 * hit it. Corruption applies to reads (`on: 'get'`, the stored object stays intact)
 * or to what is written (`on: 'put'`, the store keeps the damaged bytes).
 */
import { setTimeout as defaultSleep } from 'node:timers/promises';
import { type ErrorCode, ReboundError } from '../errors.js';
import type { ObjectInfo, ObjectStore } from './types.js';

export type StoreOp = 'put' | 'get' | 'head' | 'list' | 'delete';

export interface Fault {
  /** Matching calls that fail before the fault is used up. Default 1. */
  count?: number;
  /** Operations it applies to. Default all. */
  ops?: StoreOp[];
  /** The key (for list: the prefix), exactly or as a pattern. Default any. */
  key?: string | RegExp;
  /** The error thrown. Default IO_ERROR (retryable). */
  code?: ErrorCode;
  /**
   * 'before' (default): the call never reaches the inner store. 'after': it does (a put
   * lands, a delete deletes) and then the answer is lost, as when a connection drops.
   */
  when?: 'before' | 'after';
}

export interface Corruption {
  /** The key to damage, exactly or as a pattern. Default every key. */
  key?: string | RegExp;
  /** Damage what reads return (default) or what puts store. */
  on?: 'get' | 'put';
  /** 'flip': invert one byte (default); 'truncate': drop the second half. */
  mode?: 'flip' | 'truncate';
  /** Byte flipped, counted in the object (reads: in what was read). Default the middle. */
  offset?: number;
}

export interface FaultyStoreOptions {
  /** Faults armed from the start; a number n means "the next n calls fail". */
  failNext?: number | Fault | Fault[];
  /** Delay before each call reaches the inner store. */
  delayMs?: number | ((op: StoreOp, key: string) => number);
  /** Damage objects; `true` damages every read. */
  corrupt?: boolean | Corruption;
  /** Timer used for delays (tests with fake time pass their own). */
  sleep?: (ms: number) => Promise<unknown>;
}

interface ArmedFault extends Required<Omit<Fault, 'key' | 'ops'>> {
  key: string | RegExp | undefined;
  ops: StoreOp[] | undefined;
}

export class FaultyStore implements ObjectStore {
  readonly description: string;
  /** Calls seen per operation, faulted ones included. */
  readonly calls: Record<StoreOp, number> = { put: 0, get: 0, head: 0, list: 0, delete: 0 };
  /** Errors this wrapper injected, in order. */
  readonly injected: ReboundError[] = [];
  private faults: ArmedFault[] = [];
  private corruption: Corruption | undefined;
  private delay: FaultyStoreOptions['delayMs'];
  private readonly sleep: (ms: number) => Promise<unknown>;

  constructor(
    readonly inner: ObjectStore,
    options: FaultyStoreOptions = {},
  ) {
    this.description = `faulty(${inner.description})`;
    this.sleep = options.sleep ?? defaultSleep;
    this.delay = options.delayMs;
    const f = options.failNext;
    if (typeof f === 'number') this.failNext({ count: f });
    else if (Array.isArray(f)) for (const x of f) this.failNext(x);
    else if (f !== undefined) this.failNext(f);
    if (options.corrupt === true) this.corrupt({});
    else if (options.corrupt) this.corrupt(options.corrupt);
  }

  /** Arm a fault: the next matching calls fail. */
  failNext(fault: Fault = {}): this {
    this.faults.push({
      count: fault.count ?? 1,
      ops: fault.ops,
      key: fault.key,
      code: fault.code ?? 'IO_ERROR',
      when: fault.when ?? 'before',
    });
    return this;
  }

  /** Damage objects from now on (undefined: stop). */
  corrupt(corruption: Corruption | undefined): this {
    this.corruption = corruption;
    return this;
  }

  setDelay(delayMs: FaultyStoreOptions['delayMs']): this {
    this.delay = delayMs;
    return this;
  }

  /** Disarm everything: no faults, no delay, no corruption. */
  reset(): this {
    this.faults = [];
    this.corruption = undefined;
    this.delay = undefined;
    return this;
  }

  /** Faults still armed (a test can check they were all used). */
  get pendingFaults(): number {
    return this.faults.reduce((n, f) => n + f.count, 0);
  }

  async put(key: string, body: Buffer): Promise<void> {
    const fault = await this.enter('put', key);
    const stored = this.corrupts('put', key) ? this.damage(body) : body;
    await this.inner.put(key, stored);
    this.leave(fault, 'put', key);
  }

  async get(key: string, range?: { offset: number; length: number }): Promise<Buffer> {
    const fault = await this.enter('get', key);
    const out = await this.inner.get(key, range);
    this.leave(fault, 'get', key);
    return this.corrupts('get', key) ? this.damage(out, range?.offset ?? 0) : out;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const fault = await this.enter('head', key);
    const out = await this.inner.head(key);
    this.leave(fault, 'head', key);
    return out;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const fault = await this.enter('list', prefix);
    if (fault?.when === 'after') {
      // The listing breaks off halfway, as a dropped connection would leave it.
      let n = 0;
      for await (const o of this.inner.list(prefix)) {
        if (n++ > 0) break;
        yield o;
      }
      this.leave(fault, 'list', prefix);
      return;
    }
    yield* this.inner.list(prefix);
  }

  async delete(key: string): Promise<void> {
    const fault = await this.enter('delete', key);
    await this.inner.delete(key);
    this.leave(fault, 'delete', key);
  }

  async close(): Promise<void> {
    await this.inner.close();
  }

  /** Count, delay, and throw now for a 'before' fault; return an 'after' fault for leave(). */
  private async enter(op: StoreOp, key: string): Promise<ArmedFault | undefined> {
    this.calls[op]++;
    const delayMs = typeof this.delay === 'function' ? this.delay(op, key) : (this.delay ?? 0);
    if (delayMs > 0) await this.sleep(delayMs);
    const i = this.faults.findIndex(
      (f) => (f.ops === undefined || f.ops.includes(op)) && matches(f.key, key),
    );
    if (i < 0) return undefined;
    const fault = this.faults[i];
    if (--fault.count === 0) this.faults.splice(i, 1);
    if (fault.when === 'before') this.fail(fault, op, key);
    return fault;
  }

  private leave(fault: ArmedFault | undefined, op: StoreOp, key: string): void {
    if (fault !== undefined) this.fail(fault, op, key);
  }

  private fail(fault: ArmedFault, op: StoreOp, key: string): never {
    const err = new ReboundError(
      fault.code,
      `${this.description}: injected ${fault.code} on ${op} ${key}${fault.when === 'after' ? ' (after it reached the store)' : ''}`,
      { detail: { key, op, injected: true } },
    );
    this.injected.push(err);
    throw err;
  }

  private corrupts(op: 'get' | 'put', key: string): boolean {
    const c = this.corruption;
    return c !== undefined && (c.on ?? 'get') === op && matches(c.key, key);
  }

  /** A damaged copy; the caller's buffer is never touched. */
  private damage(buf: Buffer, startsAt = 0): Buffer {
    if (buf.length === 0) return buf;
    const c = this.corruption!;
    if (c.mode === 'truncate') return Buffer.from(buf.subarray(0, buf.length >> 1));
    const copy = Buffer.from(buf);
    const at = c.offset === undefined ? copy.length >> 1 : c.offset - startsAt;
    if (at >= 0 && at < copy.length) copy[at] ^= 0xff;
    return copy;
  }
}

function matches(pattern: string | RegExp | undefined, key: string): boolean {
  if (pattern === undefined) return true;
  return typeof pattern === 'string' ? pattern === key : pattern.test(key);
}
