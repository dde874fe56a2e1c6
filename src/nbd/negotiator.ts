/**
 * Option haggling, as a state machine with no sockets (after nbdkit's
 * protocol-handshake-newstyle.c): feed it one decoded option, get back the replies to
 * send and what the connection does next. The connection owns the socket and TLS.
 *
 * State: client flags, whether TLS is up, structured replies, the selected metadata
 * contexts and the export name they were selected for. STARTTLS resets all of it
 * except the client flags (proto.md, "TLS support").
 */
import { isReboundError, toReboundError } from '../errors.js';
import {
  MAX_PAYLOAD_BYTES,
  MIN_BLOCK_BYTES,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_CACHE,
  NBD_FLAG_SEND_DF,
  NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_NAME,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STARTTLS,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_PLATFORM,
  NBD_REP_ERR_POLICY,
  NBD_REP_ERR_SHUTDOWN,
  NBD_REP_ERR_TLS_REQD,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  OPTION_NAMES,
  PREFERRED_BLOCK_BYTES,
} from './constants.js';
import type { ExportProvider, NbdExport, NbdPeer } from './export.js';
import {
  encodeExportNameReply,
  encodeInfoBlockSize,
  encodeInfoDescription,
  encodeInfoExport,
  encodeInfoName,
  encodeMetaContextReply,
  encodeOptionError,
  encodeOptionReply,
  encodeServerReply,
  type OptionRequest,
  parseExportRequest,
  parseMetaContextRequest,
} from './handshake-codec.js';
import { availableContexts, listContexts, type SelectedContext, selectContexts } from './meta-context.js';

export type TlsMode = 'off' | 'optional' | 'require';

/** Everything the transmission phase needs, handed over by GO or EXPORT_NAME. */
export interface Negotiated {
  export: NbdExport;
  structuredReplies: boolean;
  /** Selected contexts, empty unless SET_META_CONTEXT named this same export. */
  contexts: SelectedContext[];
}

export type Outcome =
  | { next: 'continue' }
  /** Send the replies, then run the TLS handshake on the socket. */
  | { next: 'starttls' }
  /** Send the replies, then close gracefully (NBD_OPT_ABORT). */
  | { next: 'abort' }
  /** Close at once without reply (a hard disconnect). */
  | { next: 'disconnect'; reason: string }
  /** Send the replies, then enter transmission. */
  | { next: 'transmission'; negotiated: Negotiated };

export interface OptionResult {
  replies: Buffer[];
  outcome: Outcome;
}

/** Client flags we understand; any other bit means the client speaks something we do not. */
export const KNOWN_CLIENT_FLAGS = 0x3;

const CONTINUE: Outcome = { next: 'continue' };

export class Negotiator {
  private noZeroes = false;
  private tlsActive = false;
  private pskIdentity: string | null = null;
  private structuredReplies = false;
  /** The last SET_META_CONTEXT's export (resolved name) and selection. */
  private meta: { exportName: string; contexts: SelectedContext[] } | undefined;

  constructor(
    private readonly provider: ExportProvider,
    private readonly tlsMode: TlsMode,
  ) {}

  setClientFlags(flags: number): void {
    this.noZeroes = (flags & NBD_FLAG_C_NO_ZEROES) !== 0;
  }

  /**
   * Called once the TLS handshake has succeeded (with the PSK identity it authenticated, if
   * any): forget everything negotiated in plaintext.
   */
  tlsStarted(pskIdentity: string | null = null): void {
    this.tlsActive = true;
    this.pskIdentity = pskIdentity;
    this.structuredReplies = false;
    this.meta = undefined;
  }

  /** Never throws: a bug or a failing provider becomes NBD_REP_ERR_PLATFORM for that option. */
  handle(opt: OptionRequest): OptionResult {
    try {
      return this.dispatch(opt);
    } catch (err) {
      return reply(encodeOptionError(opt.option, NBD_REP_ERR_PLATFORM, toReboundError(err).message));
    }
  }

  private dispatch(opt: OptionRequest): OptionResult {
    const { option, data } = opt;
    if (this.tlsMode === 'require' && !this.tlsActive) {
      if (option === NBD_OPT_EXPORT_NAME)
        return disconnect('EXPORT_NAME before STARTTLS on a TLS-only server');
      if (option !== NBD_OPT_STARTTLS && option !== NBD_OPT_ABORT) {
        return reply(
          encodeOptionError(option, NBD_REP_ERR_TLS_REQD, 'TLS is required: send NBD_OPT_STARTTLS'),
        );
      }
    }
    switch (option) {
      case NBD_OPT_ABORT:
        return { replies: [encodeOptionReply(option, NBD_REP_ACK)], outcome: { next: 'abort' } };
      case NBD_OPT_STARTTLS:
        return this.startTls(option, data);
      case NBD_OPT_LIST:
        return this.list(option, data);
      case NBD_OPT_STRUCTURED_REPLY:
        if (data.length !== 0) return invalid(option, 'STRUCTURED_REPLY takes no data');
        if (this.structuredReplies) return invalid(option, 'structured replies already negotiated');
        this.structuredReplies = true;
        return reply(encodeOptionReply(option, NBD_REP_ACK));
      case NBD_OPT_INFO:
      case NBD_OPT_GO:
        return this.infoOrGo(option, data);
      case NBD_OPT_EXPORT_NAME:
        return this.exportName(data);
      case NBD_OPT_LIST_META_CONTEXT:
      case NBD_OPT_SET_META_CONTEXT:
        return this.metaContext(option, data);
      default:
        return reply(
          encodeOptionError(
            option,
            NBD_REP_ERR_UNSUP,
            `option ${OPTION_NAMES[option] ?? option} unsupported`,
          ),
        );
    }
  }

  private startTls(option: number, data: Buffer): OptionResult {
    if (this.tlsMode === 'off')
      return reply(encodeOptionError(option, NBD_REP_ERR_UNSUP, 'TLS is not configured'));
    if (data.length !== 0) return invalid(option, 'STARTTLS takes no data');
    if (this.tlsActive) return invalid(option, 'TLS is already active');
    return { replies: [encodeOptionReply(option, NBD_REP_ACK)], outcome: { next: 'starttls' } };
  }

  private list(option: number, data: Buffer): OptionResult {
    if (data.length !== 0) return invalid(option, 'LIST takes no data');
    const replies = this.provider.list().map((e) => encodeServerReply(option, e.name, e.description ?? ''));
    replies.push(encodeOptionReply(option, NBD_REP_ACK));
    return { replies, outcome: CONTINUE };
  }

  private infoOrGo(option: number, data: Buffer): OptionResult {
    const req = parseExportRequest(data);
    if (req === undefined) return invalid(option, 'malformed INFO/GO request');
    const opened = this.open(option, req.name);
    if ('refusal' in opened) return opened.refusal;
    const ex = opened.export;
    const replies = [encodeInfoExport(option, ex.device.sizeBytes, this.transmissionFlags(ex))];
    if (req.infos.includes(NBD_INFO_NAME)) replies.push(encodeInfoName(option, ex.name));
    if (req.infos.includes(NBD_INFO_DESCRIPTION) && ex.description) {
      replies.push(encodeInfoDescription(option, ex.description));
    }
    // Always sent: min 1 constrains nothing, and qemu prefers to know the preferred size.
    replies.push(encodeInfoBlockSize(option, MIN_BLOCK_BYTES, PREFERRED_BLOCK_BYTES, MAX_PAYLOAD_BYTES));
    replies.push(encodeOptionReply(option, NBD_REP_ACK));
    if (option === NBD_OPT_INFO) {
      release(ex);
      return { replies, outcome: CONTINUE };
    }
    return { replies, outcome: { next: 'transmission', negotiated: this.negotiated(ex) } };
  }

  private exportName(data: Buffer): OptionResult {
    const name = data.toString('utf8');
    const opened = this.open(NBD_OPT_EXPORT_NAME, name);
    if ('refusal' in opened) {
      // EXPORT_NAME has no error reply: the only way to refuse is to hang up.
      return disconnect(`EXPORT_NAME ${JSON.stringify(name)} refused: ${opened.reason}`);
    }
    const ex = opened.export;
    const replies = [encodeExportNameReply(ex.device.sizeBytes, this.transmissionFlags(ex), this.noZeroes)];
    return { replies, outcome: { next: 'transmission', negotiated: this.negotiated(ex) } };
  }

  private metaContext(option: number, data: Buffer): OptionResult {
    const set = option === NBD_OPT_SET_META_CONTEXT;
    if (set) this.meta = undefined; // SET replaces the selection even when it fails
    if (set && !this.structuredReplies)
      return invalid(option, 'SET_META_CONTEXT needs structured replies first');
    const req = parseMetaContextRequest(data);
    if (req === undefined) return invalid(option, 'malformed meta context request');
    const opened = this.open(option, req.exportName);
    if ('refusal' in opened) return opened.refusal;
    const ex = opened.export;
    let bitmaps: string[];
    try {
      bitmaps = ex.bitmapNames();
    } finally {
      release(ex);
    }
    const available = availableContexts(bitmaps);
    const replies: Buffer[] = [];
    if (set) {
      const contexts = selectContexts(available, req.queries);
      this.meta = { exportName: ex.name, contexts };
      for (const c of contexts) replies.push(encodeMetaContextReply(option, c.id, c.name));
    } else {
      for (const name of listContexts(available, req.queries))
        replies.push(encodeMetaContextReply(option, 0, name));
    }
    replies.push(encodeOptionReply(option, NBD_REP_ACK));
    return { replies, outcome: CONTINUE };
  }

  /** Open an export by name ('' = the first listed), turning every failure into an option error. */
  private open(
    option: number,
    requested: string,
  ): { export: NbdExport } | { refusal: OptionResult; reason: string } {
    let name = requested;
    let ex: NbdExport | undefined;
    try {
      if (name === '') name = this.provider.list()[0]?.name ?? '';
      ex = name === '' ? undefined : this.provider.open(name, this.peer());
    } catch (err) {
      const e = toReboundError(err);
      const type = isReboundError(e, 'SHUTTING_DOWN') ? NBD_REP_ERR_SHUTDOWN : NBD_REP_ERR_POLICY;
      return {
        refusal: reply(encodeOptionError(option, type, e.message)),
        reason: `${e.code}: ${e.message}`,
      };
    }
    if (ex === undefined) {
      const what = requested === '' ? 'no default export' : `unknown export ${JSON.stringify(requested)}`;
      return { refusal: reply(encodeOptionError(option, NBD_REP_ERR_UNKNOWN, what)), reason: what };
    }
    return { export: ex };
  }

  private peer(): NbdPeer {
    return { tls: this.tlsActive, pskIdentity: this.pskIdentity };
  }

  private negotiated(ex: NbdExport): Negotiated {
    const contexts = this.meta !== undefined && this.meta.exportName === ex.name ? this.meta.contexts : [];
    return { export: ex, structuredReplies: this.structuredReplies, contexts };
  }

  private transmissionFlags(ex: NbdExport): number {
    let flags =
      NBD_FLAG_HAS_FLAGS |
      NBD_FLAG_SEND_FLUSH |
      NBD_FLAG_SEND_FUA |
      NBD_FLAG_SEND_TRIM |
      NBD_FLAG_SEND_WRITE_ZEROES |
      NBD_FLAG_SEND_FAST_ZERO |
      NBD_FLAG_SEND_CACHE |
      NBD_FLAG_CAN_MULTI_CONN;
    if (this.structuredReplies) flags |= NBD_FLAG_SEND_DF;
    if (ex.device.readOnly) flags |= NBD_FLAG_READ_ONLY;
    return flags;
  }
}

/** Call an export's release hook, never letting it throw into the protocol. */
export function release(ex: NbdExport): void {
  try {
    ex.release?.();
  } catch {
    // A release hook that throws must not take the connection (or the process) down.
  }
}

function reply(buf: Buffer): OptionResult {
  return { replies: [buf], outcome: CONTINUE };
}

function invalid(option: number, message: string): OptionResult {
  return reply(encodeOptionError(option, NBD_REP_ERR_INVALID, message));
}

function disconnect(reason: string): OptionResult {
  return { replies: [], outcome: { next: 'disconnect', reason } };
}
