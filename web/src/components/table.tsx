/**
 * The one table: columns declared once (label, the value sorted and filtered on, how a
 * cell is drawn), a filter box, sortable headers, a count. Rows are plain <tr>s keyed by
 * the row's identity; the search text of each row is computed once per answer, so
 * typing in the filter over 1,000 volumes costs a string scan, not a re-render of every
 * cell's formatting.
 */
import type { ComponentChildren } from 'preact';
import { useMemo, useState } from 'preact/hooks';

export interface Column<T> {
  key: string;
  label: string;
  /** The value sorted and filtered on. */
  value: (row: T) => string | number | null;
  /** How the cell is drawn; the value as text when left out. */
  render?: (row: T) => ComponentChildren;
  align?: 'right';
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
        <div class="table-scroll">
          <table class="data" aria-label={props.label}>
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
            <tbody>
              {shown.map(({ row }) => (
                <tr key={rowKey(row)}>
                  {columns.map((c) => (
                    <td key={c.key} class={cellClass(c)}>
                      {c.render ? c.render(row) : String(c.value(row) ?? '—')}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          {shown.length === 0 && <p class="empty">Nothing matches “{needle.trim()}”.</p>}
        </div>
      )}
    </div>
  );
}
