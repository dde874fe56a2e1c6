/**
 * Where a volume changed: the manager's bucket counts (GET /v1/volumes/:v/heatmap) drawn
 * as a strip of cells, the address space left to right and top to bottom, darker where
 * more of a slice's blocks changed. Plain SVG: a few hundred rects.
 */
import { useState } from 'preact/hooks';
import type { HeatmapView } from '../api/client.js';
import { formatBytes, plural } from './format.js';
import { LoadState } from './page.js';
import { useLoad } from './use-load.js';

const COLS = 64;
const CELL = 11;

export function HeatmapCard({ volume }: { volume: string }) {
  const [bitmap, setBitmap] = useState<string | undefined>();
  const map = useLoad(
    (a) => a.heatmap(volume, { buckets: 512, ...(bitmap ? { bitmap } : {}) }),
    [volume, bitmap],
  );
  const h = map.data;
  return (
    <div class="card wide-card" data-testid="heatmap">
      <h2>Where it changed</h2>
      {h && h.bitmaps.length > 1 && (
        <label class="inline-select">
          Bitmap{' '}
          <select data-safe value={h.bitmap} onChange={(e) => setBitmap(e.currentTarget.value)}>
            {h.bitmaps.map((b) => (
              <option key={b.name} value={b.name}>
                {bitmapLabel(b.name)} ({plural(b.dirtyBlocks, 'block')})
              </option>
            ))}
          </select>
        </label>
      )}
      {map.error?.code === 'NOT_FOUND' ? (
        <p class="muted">{map.error.message}</p>
      ) : (
        <LoadState loading={map.loading && !h} error={map.error} what="the update bitmap" />
      )}
      {h && <Heatmap map={h} />}
    </div>
  );
}

/** since-restore: since failover (or restore); rbi.*: since a backup. */
export function bitmapLabel(name: string): string {
  if (name === 'since-restore') return 'since failover / restore';
  if (name.startsWith('rbi.')) return `since backup ${name.split('.').slice(2).join('.')}`;
  if (name.startsWith('rbd.')) return `since full backup ${name.split('.').slice(2).join('.')}`;
  return name;
}

export function Heatmap({ map }: { map: HeatmapView }) {
  const n = map.buckets.length;
  const rows = Math.ceil(n / COLS);
  const sliceBytes = map.blocksPerBucket * map.blockSizeBytes;
  return (
    <figure class="heatmap">
      <svg
        role="img"
        aria-label={`${map.changedBlocks} of ${map.totalBlocks} blocks changed`}
        viewBox={`0 0 ${COLS * CELL} ${rows * CELL}`}
        width={COLS * CELL}
        height={rows * CELL}
      >
        {map.buckets.map((count, i) => {
          const share = map.blocksPerBucket ? count / map.blocksPerBucket : 0;
          return (
            <rect
              key={i}
              x={(i % COLS) * CELL}
              y={Math.floor(i / COLS) * CELL}
              width={CELL - 1}
              height={CELL - 1}
              class={count ? 'hot' : 'cold'}
              style={count ? { opacity: 0.25 + 0.75 * Math.min(1, share) } : undefined}
            >
              <title>{`${formatBytes(i * sliceBytes)}–${formatBytes((i + 1) * sliceBytes)}: ${plural(count, 'block')} changed`}</title>
            </rect>
          );
        })}
      </svg>
      <figcaption class="muted" data-testid="heatmap-caption">
        {bitmapLabel(map.bitmap)}: {plural(map.changedBlocks, 'block')} of{' '}
        {map.totalBlocks.toLocaleString('en')} changed ({formatBytes(map.changedBlocks * map.blockSizeBytes)}
        ); each cell is {formatBytes(sliceBytes)}.
      </figcaption>
    </figure>
  );
}
