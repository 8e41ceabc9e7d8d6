import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';

/** How tables may be drawn: fitted to a terminal, as they come, or with nothing cut short (`--wide`). */
export interface Layout {
  /** Columns to fit in (the terminal's); undefined: no limit (not a terminal, or `--wide`). */
  readonly width: number | undefined;
  /** `--wide`: long texts (bodies, details, notes) are printed whole instead of cut to a length. */
  readonly wide: boolean;
}

/** Not a terminal: no width to fit, long texts cut to their usual lengths. */
export const PLAIN_LAYOUT: Layout = { width: undefined, wide: false };

/** `text`, or its first `max - 1` characters and "…"; whole under `--wide`. */
export function cut(text: string, max: number, layout: Layout): string {
  return layout.wide ? text : truncate(text, max);
}

/** cli-table3's padding of one space on either side of a cell. */
const CELL_PADDING = 2;
/** A column is never shrunk below this (padding included): enough for a recognisable prefix and "…". */
const MIN_SHRUNK_COLUMN = 10;

/**
 * Column widths (padding included) that fit `width`, or undefined when the table fits as it is. The
 * `shrinkable` groups give room in their order: the first group's columns (long texts) down to the minimum
 * before the next group's (keys, then labels) are touched; within a group one character at a time from the
 * widest, so its columns end up cut by about as much. Columns in no group are never cut; when even the
 * narrowest shrinkable columns do not fit, the table is as narrow as they allow.
 */
export function fitColumns(
  naturalWidths: readonly number[],
  shrinkable: readonly (readonly number[])[],
  width: number,
): number[] | undefined {
  const widths = naturalWidths.map((w) => w + CELL_PADDING);
  // Borders: one between each pair of columns and one at either end.
  let total = widths.reduce((sum, w) => sum + w, 0) + widths.length + 1;
  if (total <= width) return undefined;
  for (const group of shrinkable) {
    while (total > width) {
      let widest: number | undefined;
      for (const i of group) {
        const w = widths[i] ?? 0;
        if (w > MIN_SHRUNK_COLUMN && (widest === undefined || w > (widths[widest] ?? 0))) widest = i;
      }
      if (widest === undefined) break;
      widths[widest] = (widths[widest] ?? 0) - 1;
      total -= 1;
    }
  }
  return widths;
}

/**
 * A plain table (no colours: the output is often piped or pasted into a ticket). Given a `width`, the
 * `shrinkable` columns, named by their headers in groups (see `fitColumns`), are cut short with "…" until
 * the table fits; `--wide` and `--json` show them whole.
 */
export function table(
  head: readonly string[],
  rows: readonly (readonly unknown[])[],
  options: { width?: number | undefined; shrinkable?: readonly (readonly string[])[] } = {},
): string {
  const cells = rows.map((row) =>
    row.map((cell) => (cell === undefined || cell === null ? '' : String(cell))),
  );
  const naturalWidths = head.map((title, i) =>
    Math.max(displayWidth(title), ...cells.map((row) => displayWidth(row[i] ?? ''))),
  );
  const shrinkable = (options.shrinkable ?? []).map((group) =>
    group.map((title) => head.indexOf(title)).filter((i) => i >= 0),
  );
  const colWidths =
    options.width === undefined ? undefined : fitColumns(naturalWidths, shrinkable, options.width);
  const t = new Table({
    head: [...head],
    style: { head: [], border: [] },
    ...(colWidths === undefined ? {} : { colWidths }),
  });
  for (const row of cells) t.push(row);
  return t.toString();
}

function displayWidth(text: string): number {
  return Math.max(0, ...text.split('\n').map((line) => [...line].length));
}

/** Label/value lines, aligned; absent values are left out. */
export function block(lines: readonly (readonly [string, unknown])[]): string {
  const present = lines.filter(([, value]) => value !== undefined && value !== null && value !== '');
  const width = Math.max(0, ...present.map(([label]) => label.length));
  return present.map(([label, value]) => `${label.padEnd(width)}  ${String(value)}`).join('\n');
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** `2026-11-23T03:12:09.412Z` and how long ago: "… (3 min ago)". */
export function timeAgo(iso: string | undefined, nowMs: number): string | undefined {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const seconds = Math.round((nowMs - ms) / 1000);
  const span = humanSeconds(Math.abs(seconds));
  return `${iso} (${seconds >= 0 ? `${span} ago` : `in ${span}`})`;
}

export function humanSeconds(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

/** A progress bar on stderr when it is a terminal, so stdout stays clean for `--json`; otherwise nothing. */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY !== true) return { update() {}, stop() {} };
  const bar = new SingleBar({
    format: `${label} [{bar}] {value}/{total}`,
    stream,
    hideCursor: true,
    clearOnComplete: true,
  });
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
