/**
 * The one HTTP + JSON client under the typed API clients (NodeClient, ManagerClient):
 * a bearer token, a time limit on every call, and error bodies turned back into
 * ReboundError with the server's code, so callers branch on codes wherever they are.
 */
import { type ErrorCode, ReboundError } from '../errors.js';

interface ErrorBody {
  error: { code: string; message: string; detail?: Record<string, unknown> };
}

export interface JsonClientOptions {
  /** Bound on every call; default 30 s (long work runs as tasks or jobs, not as calls). */
  timeoutMs?: number;
  /** Code and message when the server does not answer at all. */
  unreachable: { code: ErrorCode; message: string };
}

export class JsonClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly options: JsonClientOptions,
  ) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
    if (res.status === 204) return undefined as T;
    return JSON.parse(await res.text()) as T;
  }

  /** A binary answer (an encoded bitmap), with the same errors as call(). */
  async bytes(method: string, path: string): Promise<Buffer> {
    const res = await this.send(method, path);
    return Buffer.from(await res.arrayBuffer());
  }

  /** The request; a non-2xx answer is thrown as the server's ReboundError. */
  private async send(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new ReboundError(this.options.unreachable.code, this.options.unreachable.message, { cause: err });
    }
    if (res.ok) return res;
    const text = await res.text();
    let parsed: ErrorBody | undefined;
    try {
      parsed = JSON.parse(text) as ErrorBody;
    } catch {}
    const code = (parsed?.error.code ?? 'INTERNAL') as ErrorCode;
    throw new ReboundError(code, parsed?.error.message ?? `HTTP ${res.status}: ${text.slice(0, 200)}`, {
      detail: parsed?.error.detail,
    });
  }
}

/** A path segment, escaped. */
export function enc(s: string): string {
  return encodeURIComponent(s);
}

/** `?a=1&b=2` from the defined values, or ''. */
export function query(params: object): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
