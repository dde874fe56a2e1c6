/**
 * Metadata context names and query matching (proto.md "Metadata querying"; QEMU
 * docs/interop/nbd.rst for the `qemu:` namespace). Pure functions.
 *
 * Contexts we offer per export: `base:allocation` and `qemu:dirty-bitmap:NAME` per bitmap.
 * LIST: no query lists everything; a query ending in ':' (`base:`, `qemu:`,
 *   `qemu:dirty-bitmap:`) is a wildcard for every context under it; else an exact name.
 * SET: exact names only; wildcards and unknown names select nothing (not an error).
 */
import { BASE_ALLOCATION, QEMU_DIRTY_BITMAP_PREFIX } from './constants.js';

export type MetaContextKind = { kind: 'allocation' } | { kind: 'dirty-bitmap'; bitmap: string };

export interface SelectedContext {
  /** Our id for it on this connection (opaque to the client). */
  id: number;
  name: string;
  source: MetaContextKind;
}

export function availableContexts(bitmapNames: readonly string[]): string[] {
  return [BASE_ALLOCATION, ...bitmapNames.map((n) => QEMU_DIRTY_BITMAP_PREFIX + n)];
}

/** The contexts NBD_OPT_LIST_META_CONTEXT answers with, in our order, without repeats. */
export function listContexts(available: readonly string[], queries: readonly string[]): string[] {
  if (queries.length === 0) return [...available];
  return available.filter((name) =>
    queries.some((q) => q === name || (q.endsWith(':') && name.startsWith(q))),
  );
}

/** The contexts NBD_OPT_SET_META_CONTEXT selects, with ids 1, 2, ... in our order. */
export function selectContexts(available: readonly string[], queries: readonly string[]): SelectedContext[] {
  const wanted = new Set(queries);
  return available
    .filter((name) => wanted.has(name))
    .map((name, i) => ({ id: i + 1, name, source: contextSource(name) }));
}

function contextSource(name: string): MetaContextKind {
  if (name === BASE_ALLOCATION) return { kind: 'allocation' };
  return { kind: 'dirty-bitmap', bitmap: name.slice(QEMU_DIRTY_BITMAP_PREFIX.length) };
}
