/**
 * A server's error reply into a ReboundError. The errno -> code table is the inverse of
 * the `nbd` column of ERROR_CODES and lives beside it (NBD_ERRNO_CODES in errors.ts);
 * this only adds what the request tells: EINVAL or ENOSPC for a range past the end is
 * OUT_OF_RANGE. An unknown error value counts as EINVAL, as the spec asks.
 */
import { NBD_ERRNO_CODES, type NbdErrno, ReboundError } from '../../errors.js';
import { NBD_ERRNO } from '../constants.js';
import type { ErrorChunk } from '../transmission-codec.js';

const ERRNO_NAMES: ReadonlyMap<number, NbdErrno> = new Map(
  Object.entries(NBD_ERRNO).map(([name, value]) => [value, name as NbdErrno]),
);

export interface RequestContext {
  command: string;
  offset: number;
  length: number;
  /** The export's size as negotiated. */
  sizeBytes: number;
}

export function serverError(err: ErrorChunk, req: RequestContext): ReboundError {
  const errno = ERRNO_NAMES.get(err.errno) ?? 'EINVAL';
  const pastEnd = req.offset + req.length > req.sizeBytes;
  const code =
    pastEnd && (errno === 'EINVAL' || errno === 'ENOSPC') ? 'OUT_OF_RANGE' : NBD_ERRNO_CODES[errno];
  const where = req.command === 'FLUSH' ? '' : ` [${req.offset}, +${req.length})`;
  const at = err.offset !== undefined ? ` at ${err.offset}` : '';
  return new ReboundError(
    code,
    `NBD server: ${req.command}${where} failed with ${errno}${at}${err.message ? `: ${err.message}` : ''}`,
    { detail: { errno: err.errno, command: req.command, offset: req.offset, length: req.length } },
  );
}
