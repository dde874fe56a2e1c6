/**
 * Backup sizes and durations over time, from the finished backup jobs: a bar per backup
 * (bytes stored, left scale) and a dot per backup (how long it took, right scale), time
 * along the bottom. Plain SVG, no chart library.
 */
import { formatBytes, formatTime } from './format.js';

export interface BackupPoint {
  at: number;
  bytes: number;
  seconds: number;
  label: string;
}

const W = 640;
const H = 180;
const PAD = { l: 64, r: 48, t: 12, b: 28 };

export function BackupPlot({ points }: { points: BackupPoint[] }) {
  if (points.length === 0) return <p class="muted">No finished backups yet.</p>;
  const t0 = Math.min(...points.map((p) => p.at));
  const t1 = Math.max(...points.map((p) => p.at));
  const span = Math.max(1, t1 - t0);
  const maxB = Math.max(1, ...points.map((p) => p.bytes));
  const maxS = Math.max(1, ...points.map((p) => p.seconds));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const x = (t: number) => PAD.l + (points.length === 1 ? iw / 2 : ((t - t0) / span) * iw);
  const bar = Math.max(3, Math.min(18, iw / points.length / 2));
  return (
    <svg
      class="plot"
      role="img"
      aria-label="Backup sizes and durations"
      viewBox={`0 0 ${W} ${H}`}
      width={W}
      height={H}
    >
      <line x1={PAD.l} y1={H - PAD.b} x2={W - PAD.r} y2={H - PAD.b} class="axis" />
      <text x={PAD.l - 6} y={PAD.t + 8} class="tick" text-anchor="end">
        {formatBytes(maxB)}
      </text>
      <text x={PAD.l - 6} y={H - PAD.b} class="tick" text-anchor="end">
        0
      </text>
      <text x={W - PAD.r + 6} y={PAD.t + 8} class="tick dur">
        {maxS.toFixed(maxS < 10 ? 1 : 0)} s
      </text>
      <text x={PAD.l} y={H - 8} class="tick">
        {formatTime(new Date(t0).toISOString())}
      </text>
      <text x={W - PAD.r} y={H - 8} class="tick" text-anchor="end">
        {formatTime(new Date(t1).toISOString())}
      </text>
      {points.map((p) => {
        const h = (p.bytes / maxB) * ih;
        return (
          <g key={p.label}>
            <rect x={x(p.at) - bar / 2} y={H - PAD.b - h} width={bar} height={Math.max(1, h)} class="bar">
              <title>{`${p.label}: ${formatBytes(p.bytes)} stored in ${p.seconds.toFixed(1)} s`}</title>
            </rect>
            <circle cx={x(p.at)} cy={H - PAD.b - (p.seconds / maxS) * ih} r={3.5} class="dot" />
          </g>
        );
      })}
      <text x={PAD.l + 4} y={PAD.t + 8} class="legend">
        ■ stored bytes ● duration
      </text>
    </svg>
  );
}
