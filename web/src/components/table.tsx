/**
 * The one table: columns declared once (label, the value sorted and filtered on, how a
 * cell is drawn), a filter box, sortable headers, a count. Rows are plain <tr>s keyed by
 * the row's identity; the search text of each row is computed once per answer, so
 * typing in the filter over 1,000 volumes costs a string scan, not a re-render of every
 * cell's formatting. Cells should be cheap: a per-row action is a plain button that opens
 * one dialog of the page, not a component with its own state in every row.
 *
 * Past WINDOW_ROWS rows the table is windowed: only the rows on screen (and a margin)
 * are in the DOM, between two spacer rows that keep the page as tall as the whole list,
 * so the window's own scroll bar, the sticky header and the count all stay true. Rows
 * then have one fixed height and the columns fixed widths (`width`), so nothing jumps
 * while scrolling. 1,000 volumes cost what 40 do; the filter box stands in for the
 * browser's find, which sees only the rows drawn.
 */
import type { ComponentChildren } from 'preact';
import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';

/** Longer lists are windowed. */
const WINDOW_ROWS = 150;
/** A windowed row's height before one is drawn and measured (styles.css: table.windowed). */
const ROW_PX = 35;
/** Rows drawn above and below the screen, so a quick scroll does not show blanks. */
const OVERSCAN = 15;

export interface Column<T> {
  key: string;
  label: string;
  /** The value sorted and filtered on. */
  value: (row: T) => string | number | null;
  /** How the cell is drawn; the value as text when left out. */
  render?: (row: T) => ComponentChildren;
  align?: 'right';
  /** The column's width (a CSS length); used when the table is windowed. */
  width?: string;
  /** Long text (paths, messages): may wrap instead of widening the table. */
  wrap?: boolean;
  /** Not part of the filter's text (actions, bars). */
  noFilter?: boolean;
  noSort?: boolean;
}

export interface TableProps<T> {
  /** Names the table for assistive technology and tests. */
  label: string;
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T) => string;
  initialSort?: { key: string; desc?: boolean };
  /** Shown when there are no rows at all. */
  empty: ComponentChildren;
  /** What one row is called, for the count ("volume" -> "1,000 volumes"). */
  noun: [string, string];
  filter?: boolean;
}

type Indexed<T> = { row: T; text: string };

function cellClass<T>(c: Column<T>): string | undefined {
  return [c.align === 'right' && 'right', c.wrap && 'wrap'].filter(Boolean).join(' ') || undefined;
}

export function DataTable<T>(props: TableProps<T>) {
  const { rows, columns, rowKey, noun } = props;
  const [needle, setNeedle] = useState('');
  const [sort, setSort] = useState(props.initialSort ?? { key: columns[0].key, desc: false });

  const indexed = useMemo<Indexed<T>[]>(
    () =>
      rows.map((row) => ({
        row,
        text: columns
          .filter((c) => !c.noFilter)
          .map((c) => String(c.value(row) ?? ''))
          .join('\u0000')
          .toLowerCase(),
      })),
    [rows, columns],
  );

  const sorted = useMemo(() => {
    const col = columns.find((c) => c.key === sort.key);
    if (!col) return indexed;
    const dir = sort.desc ? -1 : 1;
    return [...indexed].sort((a, b) => {
      const x = col.value(a.row);
      const y = col.value(b.row);
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      if (typeof x === 'number' && typeof y === 'number') return (x - y) * dir;
      return String(x).localeCompare(String(y), 'en', { numeric: true }) * dir;
    });
  }, [indexed, columns, sort]);

  const shown = useMemo(() => {
    const n = needle.trim().toLowerCase();
    return n ? sorted.filter((r) => r.text.includes(n)) : sorted;
  }, [sorted, needle]);

  const windowed = shown.length > WINDOW_ROWS;
  const body = useRef<HTMLTableSectionElement>(null);
  const [range, setRange] = useState({ first: 0, count: 60, rowPx: ROW_PX });
  useLayoutEffect(() => {
    if (!windowed) return;
    let frame = 0;
    const measure = () => {
      frame = 0;
      const tbody = body.current;
      if (!tbody) return;
      // Rows are one height by style; read it rather than trust it (fonts, zoom).
      const drawnRow = tbody.querySelector('tr:not(.spacer)');
      const rowPx = Math.max(1, drawnRow?.getBoundingClientRect().height || ROW_PX);
      const top = tbody.getBoundingClientRect().top; // where row 0 is, on screen
      const first = Math.max(0, Math.floor(-top / rowPx) - OVERSCAN);
      const count = Math.ceil(window.innerHeight / rowPx) + 2 * OVERSCAN;
      setRange((r) =>
        r.first === first && r.count === count && Math.abs(r.rowPx - rowPx) < 0.01
          ? r
          : { first, count, rowPx },
      );
    };
    const later = () => {
      frame ||= requestAnimationFrame(measure);
    };
    measure();
    window.addEventListener('scroll', later, { passive: true });
    window.addEventListener('resize', later);
    return () => {
      cancelAnimationFrame(frame);
      window.removeEventListener('scroll', later);
      window.removeEventListener('resize', later);
    };
  }, [windowed]);
  const first = windowed ? Math.max(0, Math.min(range.first, shown.length - range.count)) : 0;
  const end = windowed ? Math.min(shown.length, first + range.count) : shown.length;
  const drawn = windowed ? shown.slice(first, end) : shown;
  const spacer = (rowsTall: number) =>
    rowsTall > 0 && (
      <tr class="spacer">
        <td colSpan={columns.length} style={{ height: `${rowsTall * range.rowPx}px` }} />
      </tr>
    );

  const count = (n: number) => `${n.toLocaleString('en')} ${n === 1 ? noun[0] : noun[1]}`;

  return (
    <div class="table-block">
      {props.filter !== false && rows.length > 0 && (
        <div class="table-tools">
          <input
            type="search"
            class="filter"
            placeholder="Filter…"
            aria-label={`Filter ${noun[1]}`}
            value={needle}
            onInput={(e) => setNeedle(e.currentTarget.value)}
            data-safe
          />
          <span class="muted count" data-testid="row-count">
            {needle.trim()
              ? `${count(shown.length)} of ${rows.length.toLocaleString('en')}`
              : count(rows.length)}
          </span>
        </div>
      )}
      {rows.length === 0 ? (
        <p class="empty">{props.empty}</p>
      ) : (
        <div class={windowed ? 'table-scroll windowed' : 'table-scroll'}>
          <table
            class={windowed ? 'data windowed' : 'data'}
            aria-label={props.label}
            aria-rowcount={windowed ? shown.length + 1 : undefined}
          >
            {windowed && (
              <colgroup>
                {columns.map((c) => (
                  <col key={c.key} style={c.width ? { width: c.width } : undefined} />
                ))}
              </colgroup>
            )}
            <thead>
              <tr>
                {columns.map((c) => (
                  <th
                    key={c.key}
                    class={c.align === 'right' ? 'right' : undefined}
                    aria-sort={sort.key === c.key ? (sort.desc ? 'descending' : 'ascending') : undefined}
                  >
                    {c.noSort ? (
                      c.label
                    ) : (
                      <button
                        type="button"
                        class="sort"
                        data-safe
                        onClick={() =>
                          setSort((s) => ({ key: c.key, desc: s.key === c.key ? !s.desc : false }))
                        }
                      >
                        {c.label}
                        <span class="sort-mark" aria-hidden="true">
                          {sort.key === c.key ? (sort.desc ? '▼' : '▲') : ''}
                        </span>
                      </button>
                    )}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody ref={body}>
              {windowed && spacer(first)}
              {drawn.map(({ row }, i) => (
                <tr key={rowKey(row)} aria-rowindex={windowed ? first + i + 2 : undefined}>
                  {columns.map((c) => (
                    <td key={c.key} class={cellClass(c)}>
                      {c.render ? c.render(row) : String(c.value(row) ?? '—')}
                    </td>
                  ))}
                </tr>
              ))}
              {windowed && spacer(shown.length - end)}
            </tbody>
          </table>
          {shown.length === 0 && <p class="empty">Nothing matches “{needle.trim()}”.</p>}
        </div>
      )}
    </div>
  );
}
