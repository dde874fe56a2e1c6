/**
 * journal/: the ordered write journal of a remote-copy pair (SPEC "Failback, method 1",
 * S502 and S406; DESIGN.md "journal/").
 *
 * While the secondary copies its changed blocks to the primary (the initial copy),
 * hosts keep writing to the secondary; each such write is also appended here with a
 * sequence number. After the initial copy the entries are read in order, shipped,
 * applied on the primary (`applyEntries`), acknowledged, and trimmed, until the pair is
 * released (`destroy`). Markers record points consistent across the volumes of one job;
 * the applier can stop at one.
 *
 * Why a journal and not only the update bitmap: the bitmap says which blocks differ,
 * not in what order they changed, so a copy driven by it is consistent only once it
 * ends; the journal replays writes in order, so the primary is at a crash-consistent
 * point after every entry (and at a job-consistent one after every marker).
 *
 * On disk: segment files of CRC-checked records plus a small state file
 * (docs/formats/journal.md); a crash (kill -9, power loss) keeps every entry appended
 * durably, and recovery cuts only a torn tail.
 */
export { type ApplyOptions, type ApplyTarget, applyEntries } from './apply.js';
export {
  type AppendOptions,
  DEFAULT_MAX_BYTES,
  DEFAULT_SEGMENT_BYTES,
  Journal,
  type JournalOptions,
  type JournalStats,
  type ReadOptions,
} from './journal.js';
export {
  type EntryType,
  type JournalEntry,
  type JournalRecord,
  MAX_DATA_BYTES,
  MAX_NAME_BYTES,
} from './record.js';
