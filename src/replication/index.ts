/**
 * replication/: copy pairs, the node's half of a remote-copy failback (SPEC "Failback,
 * method 1": S403 initial copy, S404 the pair, S406 the pair state; DESIGN.md "Failback 1").
 *
 * The secondary node starts a pair from one of its volumes to the primary's export over
 * NBD (TLS between sites). From that moment every write to the volume is also appended
 * to the pair's journal (volume/ JournalSink, journal/); then the blocks of the frozen
 * update bitmap (or all of them when the unique IDs differ) are copied with the copy
 * engine; then the journal is shipped in order, applied on the primary, acknowledged
 * and trimmed, until the manager fences the volume and releases the pair, which drains
 * the journal to lag 0 and lets go. Host writes never fail because of a pair: a full
 * journal falls back to marking blocks and copying them again (sink.ts).
 *
 * Failback, method 2 (S701-S710) lives here too: the primary's export attached as a
 * virtual volume (external.ts, S702, S708) and a local copy of the frozen bitmap's blocks,
 * or of every block, into it (local-copy.ts, S704-S706).
 *
 * Files: record (pair.json, the view), sink (the volume's journal hook), pair (one pair's
 * runner: states, ordering, crashes, retries), pairs (the node's set of pairs), target
 * (another node's export as stored and dialled), freeze (S501's freeze, shared),
 * external (virtual volumes), local-copy.
 */

export {
  EXTERNALS_DIR,
  type ExternalDevice,
  type ExternalView,
  ExternalVolumes,
  type ExternalVolumesOptions,
  uniqueIdOfDescription,
} from './external.js';
export { type LocalCopyRequest, type LocalCopyResult, localCopy } from './local-copy.js';
export { DEFAULT_RETRY, Pair, type PairContext, type RetryPolicy, type TargetDevice } from './pair.js';
export {
  PAIRS_DIR,
  PairManager,
  type PairManagerOptions,
  pairBitmapName,
  type StartPairRequest,
} from './pairs.js';
export type { PairMode, PairState, PairTargetSpec, PairView } from './record.js';
export { PairSink } from './sink.js';
