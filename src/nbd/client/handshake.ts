/**
 * The client side of option haggling, as qemu and libnbd do it (reference/nbd.md 1.3):
 *
 *   greeting (fixed newstyle?) -> client flags FIXED_NEWSTYLE | NO_ZEROES
 *   [STARTTLS -> TLS handshake]            when credentials are given
 *   STRUCTURED_REPLY                       refused: simple replies, no block status
 *   SET_META_CONTEXT export [contexts]     only with structured replies
 *   GO export [INFO_BLOCK_SIZE, _DESCRIPTION] ERR_UNSUP: EXPORT_NAME (old servers)
 *
 * Failures become ReboundErrors a caller can branch on: NOT_FOUND (unknown export),
 * NBD_TLS_REQUIRED (the server wants TLS we were not given), NBD_TLS_FAILED,
 * NBD_OPTION_REFUSED (any other refusal, with the server's message), SHUTTING_DOWN,
 * NBD_PROTOCOL (bad magic, malformed replies), NBD_DISCONNECTED (short read).
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { ReboundError } from '../../errors.js';
import {
  MAX_PAYLOAD_BYTES,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_NO_ZEROES,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STARTTLS,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_SHUTDOWN,
  NBD_REP_ERR_TLS_REQD,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_FLAG_ERROR,
  NBD_REP_INFO,
  NBD_REP_META_CONTEXT,
  OPTION_NAMES,
  OPTION_REPLY_NAMES,
  PREFERRED_BLOCK_BYTES,
} from '../constants.js';
import {
  decodeExportNameReply,
  decodeGreeting,
  decodeOptionReply,
  encodeClientFlags,
  encodeExportRequest,
  encodeMetaContextRequest,
  encodeOption,
  type OptionReply,
  parseInfoReply,
  parseMetaContextReply,
} from '../handshake-codec.js';
import { NbdProtocolError } from '../protocol-error.js';
import { FrameSource } from './frame-source.js';
import { upgradeToTls } from './tls.js';

/** What the server agreed to, for the transmission phase and for `NbdClientDevice.info`. */
export interface NegotiatedExport {
  exportName: string;
  sizeBytes: number;
  /** NBD_FLAG_* transmission flags (0 when the server did not set HAS_FLAGS). */
  transmissionFlags: number;
  minimumBlockBytes: number;
  preferredBlockBytes: number;
  maxPayloadBytes: number;
  /** False when the server sent no NBD_INFO_BLOCK_SIZE (the sizes are the spec's defaults). */
  blockSizeAdvertised: boolean;
  /** NBD_INFO_DESCRIPTION, when the server sent one (a Rebound node: `volume <unique ID>`). */
  description: string | null;
  structuredReplies: boolean;
  /** Selected metadata contexts: name -> the server's id for it. */
  metaContexts: Map<string, number>;
  tls: boolean;
}

export interface HandshakeOptions {
  exportName: string;
  /** tls.connect options; undefined: no STARTTLS. */
  tls: tls.ConnectionOptions | undefined;
  /** Fail when the server does not offer STARTTLS (else go on in plaintext). */
  tlsRequired: boolean;
  metaContexts: readonly string[];
}

export interface HandshakeResult {
  /** The socket transmission runs on: the plain one, or the TLS socket over it. */
  stream: net.Socket | tls.TLSSocket;
  /** Bytes that came after the last handshake reply (none from a well-behaved server). */
  leftover: Buffer;
  negotiated: NegotiatedExport;
}

/** Without NBD_INFO_BLOCK_SIZE the spec's defaults apply: 1 / 4096 / 32 MiB. */
const DEFAULT_MIN_BLOCK = 1;
const DEFAULT_MAX_PAYLOAD = MAX_PAYLOAD_BYTES;

interface OptionAnswer {
  /** Replies before the final one (INFO, META_CONTEXT). */
  replies: OptionReply[];
  /** ACK or an error type. */
  final: number;
  /** The server's message with an error reply. */
  message: string;
}

export async function negotiate(socket: net.Socket, options: HandshakeOptions): Promise<HandshakeResult> {
  let stream: net.Socket | tls.TLSSocket = socket;
  let source = new FrameSource(socket);
  try {
    const serverFlags = await source.next(decodeGreeting, 'the server greeting');
    if (!(serverFlags & NBD_FLAG_FIXED_NEWSTYLE)) {
      throw new NbdProtocolError('the server does not speak fixed-newstyle NBD');
    }
    const noZeroes = (serverFlags & NBD_FLAG_NO_ZEROES) !== 0;
    stream.write(encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | (noZeroes ? NBD_FLAG_C_NO_ZEROES : 0)));

    const ask = async (option: number, data?: Buffer): Promise<OptionAnswer> => {
      stream.write(encodeOption(option, data));
      const replies: OptionReply[] = [];
      for (;;) {
        const reply = await source.next((r) => decodeOptionReply(r), `the reply to ${OPTION_NAMES[option]}`);
        if (reply.option !== option) {
          throw new NbdProtocolError(
            `reply to option ${reply.option} while waiting for ${OPTION_NAMES[option]}`,
          );
        }
        if (reply.type === NBD_REP_ACK) return { replies, final: NBD_REP_ACK, message: '' };
        if (reply.type & NBD_REP_FLAG_ERROR) {
          return { replies, final: reply.type, message: reply.data.toString('utf8') };
        }
        replies.push(reply);
      }
    };

    let tlsActive = false;
    if (options.tls !== undefined) {
      const answer = await ask(NBD_OPT_STARTTLS);
      if (answer.final === NBD_REP_ACK) {
        const leftover = source.detach();
        if (leftover.length > 0) throw new NbdProtocolError('the server sent data after its STARTTLS reply');
        stream = await upgradeToTls(socket, options.tls);
        source = new FrameSource(stream);
        tlsActive = true;
      } else if (options.tlsRequired) {
        throw new ReboundError(
          'NBD_TLS_FAILED',
          `the NBD server does not offer TLS (STARTTLS: ${replyName(answer.final)}${suffix(answer.message)}) ` +
            'and this connection requires it',
        );
      }
    }

    const structured = await ask(NBD_OPT_STRUCTURED_REPLY);
    checkFatal(NBD_OPT_STRUCTURED_REPLY, structured, options.exportName);
    const structuredReplies = structured.final === NBD_REP_ACK;

    const metaContexts = new Map<string, number>();
    if (structuredReplies && options.metaContexts.length > 0) {
      const answer = await ask(
        NBD_OPT_SET_META_CONTEXT,
        encodeMetaContextRequest({ exportName: options.exportName, queries: [...options.metaContexts] }),
      );
      checkFatal(NBD_OPT_SET_META_CONTEXT, answer, options.exportName);
      if (answer.final === NBD_REP_ACK) {
        for (const r of answer.replies) {
          if (r.type !== NBD_REP_META_CONTEXT) throw unexpected(r);
          const { id, name } = parseMetaContextReply(r.data);
          metaContexts.set(name, id);
        }
      }
      // Any other refusal (ERR_UNSUP, ERR_INVALID): no contexts; block status says "allocated".
    }

    const go = await ask(
      NBD_OPT_GO,
      encodeExportRequest({ name: options.exportName, infos: [NBD_INFO_BLOCK_SIZE, NBD_INFO_DESCRIPTION] }),
    );
    let negotiated: NegotiatedExport;
    if (go.final === NBD_REP_ERR_UNSUP) {
      negotiated = await exportName(stream, source, options.exportName, noZeroes);
    } else {
      checkFatal(NBD_OPT_GO, go, options.exportName);
      if (go.final !== NBD_REP_ACK) throw refused(NBD_OPT_GO, go);
      negotiated = fromInfos(options.exportName, go.replies);
    }
    negotiated.structuredReplies = structuredReplies;
    negotiated.metaContexts = metaContexts;
    negotiated.tls = tlsActive;
    return { stream, leftover: source.detach(), negotiated };
  } catch (err) {
    source.detach();
    stream.destroy();
    socket.destroy();
    throw tlsAlert(err) ?? err;
  }
}

/**
 * In TLS 1.3 the client's handshake ends before the server has checked the client's
 * certificate; a refusal arrives as an alert on the next read. Name it for what it is.
 */
function tlsAlert(err: unknown): ReboundError | undefined {
  if (!(err instanceof ReboundError) || err.code !== 'NBD_DISCONNECTED') return undefined;
  const cause = err.cause as NodeJS.ErrnoException | undefined;
  if (typeof cause?.code !== 'string' || !cause.code.startsWith('ERR_SSL_')) return undefined;
  const why = (cause as { reason?: string }).reason ?? cause.message.trim();
  return new ReboundError('NBD_TLS_FAILED', `the NBD server ended the TLS session: ${why}`, { cause });
}

/** GO's INFO replies into the negotiated export; NBD_INFO_EXPORT is mandatory. */
function fromInfos(name: string, replies: OptionReply[]): NegotiatedExport {
  let exportInfo: { sizeBytes: number; transmissionFlags: number } | undefined;
  let minimumBlockBytes = DEFAULT_MIN_BLOCK;
  let preferredBlockBytes = PREFERRED_BLOCK_BYTES;
  let maxPayloadBytes = DEFAULT_MAX_PAYLOAD;
  let blockSizeAdvertised = false;
  let description: string | null = null;
  for (const r of replies) {
    if (r.type !== NBD_REP_INFO) throw unexpected(r);
    const info = parseInfoReply(r.data);
    if (info.info === 'export') exportInfo = info;
    else if (info.info === 'description') description = info.description;
    else if (info.info === 'block-size') {
      const { minimumBytes, preferredBytes, maxPayloadBytes: max } = info;
      if (
        !isPowerOfTwo(minimumBytes) ||
        minimumBytes > 65536 ||
        preferredBytes < minimumBytes ||
        max < minimumBytes
      ) {
        throw new NbdProtocolError(
          `impossible block sizes min ${minimumBytes} preferred ${preferredBytes} max ${max}`,
        );
      }
      minimumBlockBytes = minimumBytes;
      preferredBlockBytes = preferredBytes;
      maxPayloadBytes = max;
      blockSizeAdvertised = true;
    }
  }
  if (exportInfo === undefined) throw new NbdProtocolError('GO succeeded without NBD_INFO_EXPORT');
  return {
    exportName: name,
    sizeBytes: exportInfo.sizeBytes,
    transmissionFlags: flagsOf(exportInfo.transmissionFlags),
    minimumBlockBytes,
    preferredBlockBytes,
    maxPayloadBytes,
    blockSizeAdvertised,
    description,
    structuredReplies: false,
    metaContexts: new Map(),
    tls: false,
  };
}

/** NBD_OPT_EXPORT_NAME, for servers without GO. It has no error reply: a refusal is a hang-up. */
async function exportName(
  stream: net.Socket | tls.TLSSocket,
  source: FrameSource,
  name: string,
  noZeroes: boolean,
): Promise<NegotiatedExport> {
  stream.write(encodeOption(NBD_OPT_EXPORT_NAME, Buffer.from(name, 'utf8')));
  let reply: { sizeBytes: number; transmissionFlags: number };
  try {
    reply = await source.next((r) => decodeExportNameReply(r, noZeroes), 'the reply to EXPORT_NAME');
  } catch (err) {
    if (err instanceof ReboundError && err.code === 'NBD_DISCONNECTED') {
      throw new ReboundError(
        'NOT_FOUND',
        `the NBD server hung up on EXPORT_NAME ${JSON.stringify(name)} (old servers do that for an unknown export)`,
        { cause: err },
      );
    }
    throw err;
  }
  return {
    exportName: name,
    sizeBytes: reply.sizeBytes,
    transmissionFlags: flagsOf(reply.transmissionFlags),
    minimumBlockBytes: DEFAULT_MIN_BLOCK,
    preferredBlockBytes: PREFERRED_BLOCK_BYTES,
    maxPayloadBytes: DEFAULT_MAX_PAYLOAD,
    blockSizeAdvertised: false,
    description: null,
    structuredReplies: false,
    metaContexts: new Map(),
    tls: false,
  };
}

/** Refusals that end the handshake whatever option drew them. */
function checkFatal(option: number, answer: OptionAnswer, name: string): void {
  switch (answer.final) {
    case NBD_REP_ERR_TLS_REQD:
      throw new ReboundError(
        'NBD_TLS_REQUIRED',
        `the NBD server requires TLS (it answered ${OPTION_NAMES[option]} with ERR_TLS_REQD${suffix(answer.message)}); give the client PSK or x509 credentials`,
      );
    case NBD_REP_ERR_UNKNOWN:
      throw new ReboundError(
        'NOT_FOUND',
        `the NBD server has no export ${JSON.stringify(name)}${suffix(answer.message)}`,
        { detail: { exportName: name } },
      );
    case NBD_REP_ERR_SHUTDOWN:
      throw new ReboundError('SHUTTING_DOWN', `the NBD server is shutting down${suffix(answer.message)}`);
  }
}

function refused(option: number, answer: OptionAnswer): ReboundError {
  return new ReboundError(
    'NBD_OPTION_REFUSED',
    `the NBD server refused ${OPTION_NAMES[option]} with ${replyName(answer.final)}${suffix(answer.message)}`,
    { detail: { option: OPTION_NAMES[option], reply: replyName(answer.final), message: answer.message } },
  );
}

function unexpected(r: OptionReply): NbdProtocolError {
  return new NbdProtocolError(
    `unexpected reply ${replyName(r.type)} to ${OPTION_NAMES[r.option] ?? r.option}`,
  );
}

function flagsOf(transmissionFlags: number): number {
  return transmissionFlags & NBD_FLAG_HAS_FLAGS ? transmissionFlags : 0;
}

function replyName(type: number): string {
  return OPTION_REPLY_NAMES[type] ?? `0x${type.toString(16)}`;
}

function suffix(message: string): string {
  return message ? `: ${message}` : '';
}

function isPowerOfTwo(n: number): boolean {
  return n >= 1 && (n & (n - 1)) === 0;
}
