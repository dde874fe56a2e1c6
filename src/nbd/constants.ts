/**
 * Every NBD protocol constant, from NetworkBlockDevice/nbd doc/proto.md ("Values").
 *
 * Written as literal hex, never as shift expressions: `1 << 15 + 1` is 65536 in JS
 * (prior art shipped that bug for NBD_REPLY_TYPE_ERROR). 64-bit magics are bigints.
 */
import type { NbdErrno } from '../errors.js';

// Magic numbers.
export const NBD_MAGIC = 0x4e42444d41474943n; // "NBDMAGIC"
export const NBD_OPTS_MAGIC = 0x49484156454f5054n; // "IHAVEOPT"
export const NBD_REP_MAGIC = 0x0003e889045565a9n; // option reply
export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;
export const NBD_EXTENDED_REQUEST_MAGIC = 0x21e41c71; // experimental, not spoken
export const NBD_EXTENDED_REPLY_MAGIC = 0x6e8a278c; // experimental, not spoken

// Handshake flags (u16, server) and client flags (u32, same bits).
export const NBD_FLAG_FIXED_NEWSTYLE = 0x0001;
export const NBD_FLAG_NO_ZEROES = 0x0002;
export const NBD_FLAG_C_FIXED_NEWSTYLE = 0x0001;
export const NBD_FLAG_C_NO_ZEROES = 0x0002;

// Transmission flags (u16).
export const NBD_FLAG_HAS_FLAGS = 0x0001;
export const NBD_FLAG_READ_ONLY = 0x0002;
export const NBD_FLAG_SEND_FLUSH = 0x0004;
export const NBD_FLAG_SEND_FUA = 0x0008;
export const NBD_FLAG_ROTATIONAL = 0x0010;
export const NBD_FLAG_SEND_TRIM = 0x0020;
export const NBD_FLAG_SEND_WRITE_ZEROES = 0x0040;
export const NBD_FLAG_SEND_DF = 0x0080;
export const NBD_FLAG_CAN_MULTI_CONN = 0x0100;
export const NBD_FLAG_SEND_RESIZE = 0x0200; // experimental
export const NBD_FLAG_SEND_CACHE = 0x0400;
export const NBD_FLAG_SEND_FAST_ZERO = 0x0800;
export const NBD_FLAG_BLOCK_STATUS_PAYLOAD = 0x1000; // experimental

// Options.
export const NBD_OPT_EXPORT_NAME = 1;
export const NBD_OPT_ABORT = 2;
export const NBD_OPT_LIST = 3;
export const NBD_OPT_PEEK_EXPORT = 4; // withdrawn
export const NBD_OPT_STARTTLS = 5;
export const NBD_OPT_INFO = 6;
export const NBD_OPT_GO = 7;
export const NBD_OPT_STRUCTURED_REPLY = 8;
export const NBD_OPT_LIST_META_CONTEXT = 9;
export const NBD_OPT_SET_META_CONTEXT = 10;
export const NBD_OPT_EXTENDED_HEADERS = 11; // experimental

// Option reply types. Bit 31 marks an error.
export const NBD_REP_ACK = 1;
export const NBD_REP_SERVER = 2;
export const NBD_REP_INFO = 3;
export const NBD_REP_META_CONTEXT = 4;
export const NBD_REP_FLAG_ERROR = 0x80000000;
export const NBD_REP_ERR_UNSUP = 0x80000001;
export const NBD_REP_ERR_POLICY = 0x80000002;
export const NBD_REP_ERR_INVALID = 0x80000003;
export const NBD_REP_ERR_PLATFORM = 0x80000004;
export const NBD_REP_ERR_TLS_REQD = 0x80000005;
export const NBD_REP_ERR_UNKNOWN = 0x80000006;
export const NBD_REP_ERR_SHUTDOWN = 0x80000007;
export const NBD_REP_ERR_BLOCK_SIZE_REQD = 0x80000008;
export const NBD_REP_ERR_TOO_BIG = 0x80000009;
export const NBD_REP_ERR_EXT_HEADER_REQD = 0x8000000a;

// Info types (NBD_REP_INFO payloads).
export const NBD_INFO_EXPORT = 0;
export const NBD_INFO_NAME = 1;
export const NBD_INFO_DESCRIPTION = 2;
export const NBD_INFO_BLOCK_SIZE = 3;

// Commands.
export const NBD_CMD_READ = 0;
export const NBD_CMD_WRITE = 1;
export const NBD_CMD_DISC = 2;
export const NBD_CMD_FLUSH = 3;
export const NBD_CMD_TRIM = 4;
export const NBD_CMD_CACHE = 5;
export const NBD_CMD_WRITE_ZEROES = 6;
export const NBD_CMD_BLOCK_STATUS = 7;
export const NBD_CMD_RESIZE = 8; // experimental

// Command flags (u16).
export const NBD_CMD_FLAG_FUA = 0x0001;
export const NBD_CMD_FLAG_NO_HOLE = 0x0002;
export const NBD_CMD_FLAG_DF = 0x0004;
export const NBD_CMD_FLAG_REQ_ONE = 0x0008;
export const NBD_CMD_FLAG_FAST_ZERO = 0x0010;
export const NBD_CMD_FLAG_PAYLOAD_LEN = 0x0020; // experimental

// Structured reply flags and types. Bit 15 of the type marks an error chunk.
export const NBD_REPLY_FLAG_DONE = 0x0001;
export const NBD_REPLY_TYPE_NONE = 0;
export const NBD_REPLY_TYPE_OFFSET_DATA = 1;
export const NBD_REPLY_TYPE_OFFSET_HOLE = 2;
export const NBD_REPLY_TYPE_BLOCK_STATUS = 5;
export const NBD_REPLY_TYPE_BLOCK_STATUS_EXT = 6; // experimental
export const NBD_REPLY_TYPE_ERROR_BIT = 0x8000;
export const NBD_REPLY_TYPE_ERROR = 0x8001;
export const NBD_REPLY_TYPE_ERROR_OFFSET = 0x8002;

// Metadata context flags.
export const NBD_STATE_HOLE = 0x1; // base:allocation
export const NBD_STATE_ZERO = 0x2; // base:allocation
export const NBD_STATE_DIRTY = 0x1; // qemu:dirty-bitmap:*

export const BASE_ALLOCATION = 'base:allocation';
export const QEMU_DIRTY_BITMAP_PREFIX = 'qemu:dirty-bitmap:';

// Error values on the wire.
export const NBD_ERRNO: Readonly<Record<NbdErrno, number>> = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
};

// Sizes and limits.
export const NBD_DEFAULT_PORT = 10809;
export const GREETING_BYTES = 18;
export const OPTION_HEADER_BYTES = 16;
export const OPTION_REPLY_HEADER_BYTES = 20;
export const REQUEST_BYTES = 28;
export const SIMPLE_REPLY_BYTES = 16;
export const CHUNK_HEADER_BYTES = 20;
/** Strings MUST be at most 4096 bytes (proto.md, "Conventions"). */
export const MAX_STRING_BYTES = 4096;
/** Block status descriptors per chunk (SHOULD NOT exceed 2^20). */
export const MAX_EXTENTS_PER_CHUNK = 1 << 20;
/** What we advertise in NBD_INFO_BLOCK_SIZE, like qemu-nbd: min 1, preferred 4 KiB, max payload 32 MiB. */
export const MIN_BLOCK_BYTES = 1;
export const PREFERRED_BLOCK_BYTES = 4096;
export const MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;

/** Names for logs. */
export const OPTION_NAMES: Readonly<Record<number, string>> = {
  1: 'EXPORT_NAME',
  2: 'ABORT',
  3: 'LIST',
  4: 'PEEK_EXPORT',
  5: 'STARTTLS',
  6: 'INFO',
  7: 'GO',
  8: 'STRUCTURED_REPLY',
  9: 'LIST_META_CONTEXT',
  10: 'SET_META_CONTEXT',
  11: 'EXTENDED_HEADERS',
};

export const COMMAND_NAMES: Readonly<Record<number, string>> = {
  0: 'READ',
  1: 'WRITE',
  2: 'DISC',
  3: 'FLUSH',
  4: 'TRIM',
  5: 'CACHE',
  6: 'WRITE_ZEROES',
  7: 'BLOCK_STATUS',
  8: 'RESIZE',
};

export const OPTION_REPLY_NAMES: Readonly<Record<number, string>> = {
  [NBD_REP_ACK]: 'ACK',
  [NBD_REP_SERVER]: 'SERVER',
  [NBD_REP_INFO]: 'INFO',
  [NBD_REP_META_CONTEXT]: 'META_CONTEXT',
  [NBD_REP_ERR_UNSUP]: 'ERR_UNSUP',
  [NBD_REP_ERR_POLICY]: 'ERR_POLICY',
  [NBD_REP_ERR_INVALID]: 'ERR_INVALID',
  [NBD_REP_ERR_PLATFORM]: 'ERR_PLATFORM',
  [NBD_REP_ERR_TLS_REQD]: 'ERR_TLS_REQD',
  [NBD_REP_ERR_UNKNOWN]: 'ERR_UNKNOWN',
  [NBD_REP_ERR_SHUTDOWN]: 'ERR_SHUTDOWN',
  [NBD_REP_ERR_BLOCK_SIZE_REQD]: 'ERR_BLOCK_SIZE_REQD',
  [NBD_REP_ERR_TOO_BIG]: 'ERR_TOO_BIG',
  [NBD_REP_ERR_EXT_HEADER_REQD]: 'ERR_EXT_HEADER_REQD',
};
