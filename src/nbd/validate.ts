/**
 * validate_request: the one place where a bad NBD request becomes its NBD error
 * (STYLE.md point 3, after nbdkit's server/protocol.c). Code below it (the command
 * handlers, the device) may assume the request is in range, allowed and well-flagged.
 *
 * Order matters and follows nbdkit: command, flags, read-only, range, limits.
 */
import type { NbdErrno } from '../errors.js';
import {
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_DISC,
  NBD_CMD_FLAG_DF,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
} from './constants.js';
import type { NbdRequest } from './transmission-codec.js';

export interface RequestLimits {
  sizeBytes: number;
  readOnly: boolean;
  /** Structured replies negotiated (DF is only valid then). */
  structuredReplies: boolean;
  /** Metadata contexts selected for this export (BLOCK_STATUS needs at least one). */
  metaContextCount: number;
  /** Largest READ we answer (the advertised maximum payload). */
  maxPayloadBytes: number;
}

export interface RequestFault {
  errno: NbdErrno;
  message: string;
}

/** Flags each command accepts. FUA is accepted everywhere, as the spec asks, and ignored where meaningless. */
const ALLOWED_FLAGS: Readonly<Record<number, number>> = {
  [NBD_CMD_READ]: NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_DF,
  [NBD_CMD_WRITE]: NBD_CMD_FLAG_FUA,
  [NBD_CMD_DISC]: NBD_CMD_FLAG_FUA,
  [NBD_CMD_FLUSH]: NBD_CMD_FLAG_FUA,
  [NBD_CMD_TRIM]: NBD_CMD_FLAG_FUA,
  [NBD_CMD_CACHE]: NBD_CMD_FLAG_FUA,
  [NBD_CMD_WRITE_ZEROES]: NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO,
  [NBD_CMD_BLOCK_STATUS]: NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE,
};

const WRITES = new Set([NBD_CMD_WRITE, NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES]);

/** The NBD error for a request we must refuse, or undefined when it may run. */
export function validateRequest(req: NbdRequest, limits: RequestLimits): RequestFault | undefined {
  const allowed = ALLOWED_FLAGS[req.type];
  if (allowed === undefined) return { errno: 'EINVAL', message: `unknown command ${req.type}` };
  if (req.flags & ~allowed) {
    return {
      errno: 'EINVAL',
      message: `flags 0x${req.flags.toString(16)} not valid for command ${req.type}`,
    };
  }
  if (req.flags & NBD_CMD_FLAG_DF && !limits.structuredReplies) {
    return { errno: 'EINVAL', message: 'DF needs structured replies' };
  }
  // FLUSH and DISC carry no range (offset and length are reserved).
  if (req.type === NBD_CMD_FLUSH || req.type === NBD_CMD_DISC) return undefined;

  if (WRITES.has(req.type) && limits.readOnly) return { errno: 'EPERM', message: 'export is read-only' };
  if (req.offset + req.length > limits.sizeBytes || req.offset > limits.sizeBytes) {
    const write = req.type === NBD_CMD_WRITE || req.type === NBD_CMD_WRITE_ZEROES;
    return {
      errno: write ? 'ENOSPC' : 'EINVAL',
      message: `request [${req.offset}, +${req.length}) runs past the end of the export (${limits.sizeBytes} bytes)`,
    };
  }
  if (req.type === NBD_CMD_READ && req.length > limits.maxPayloadBytes) {
    return { errno: 'EINVAL', message: `read of ${req.length} bytes exceeds ${limits.maxPayloadBytes}` };
  }
  if (req.type === NBD_CMD_BLOCK_STATUS) {
    if (limits.metaContextCount === 0) return { errno: 'EINVAL', message: 'no metadata context selected' };
    if (req.length === 0) return { errno: 'EINVAL', message: 'block status of 0 bytes' };
  }
  return undefined;
}
