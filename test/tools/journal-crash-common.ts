/**
 * Shared by the journal crash loop and its worker: the journal's options and the entry
 * that each seq carries, so the checker knows what every record must hold without
 * being told (a damaged or misplaced record can never look right).
 */
import type { JournalEntry, JournalOptions } from '../../src/journal/index.js';

/** Small segments so that the worker rolls, trims and crashes across segment ends. */
export const JOURNAL_OPTIONS: JournalOptions = { segmentBytes: 256 * 1024, maxBytes: 64 * 1024 * 1024 };

function mix(n: number): number {
  let x = Math.imul(n ^ (n >>> 16), 0x45d9f3b);
  x = Math.imul(x ^ (x >>> 16), 0x45d9f3b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The entry the worker appends as `seq`: mostly writes of 1 byte to 64 KiB, some zeros and markers. */
export function entryFor(seq: number): JournalEntry {
  const h = mix(seq);
  const volumeId = `vol-${seq % 3}`;
  const offset = (h % 4096) * 4096;
  if (h % 23 === 0) return { type: 'marker', label: `point-${seq}` };
  if (h % 19 === 0) return { type: 'zero', volumeId, offset, length: 4096 * (1 + (h % 16)) };
  const bytes = h % 4 === 0 ? 65536 : 1 + (h % 16384);
  const data = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (seq * 131 + i * 7 + (i >>> 8)) & 0xff;
  return { type: 'write', volumeId, offset, data };
}

/** Why `got` is not what seq `seq` must hold, or null when it is. */
export function mismatch(seq: number, got: JournalEntry): string | null {
  const want = entryFor(seq);
  if (got.type !== want.type) return `type ${got.type}, expected ${want.type}`;
  if (want.type === 'marker')
    return got.type === 'marker' && got.label === want.label ? null : 'marker label differs';
  if (got.type === 'marker') return 'unexpected marker';
  if (got.volumeId !== want.volumeId || got.offset !== want.offset) return 'volume or offset differs';
  if (want.type === 'write')
    return got.type === 'write' && got.data.equals(want.data) ? null : 'data differs';
  return got.type === 'zero' && want.type === 'zero' && got.length === want.length ? null : 'length differs';
}
