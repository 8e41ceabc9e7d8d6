import { UsageError } from './errors.js';

const UNIT_SECONDS = { s: 1, m: 60, h: 3_600, d: 86_400 } as const;

/**
 * `--since` as a point in time: a duration back from now (`90s`, `15m`, `1h`, `2d`, `1h30m`) or an ISO-8601
 * time (`2026-11-23T03:00:00Z`). Returns epoch milliseconds.
 */
export function parseSince(value: string, nowMs: number): number {
  const text = value.trim();
  if (/^(\d+[smhd])+$/.test(text)) {
    let seconds = 0;
    for (const [, amount, unit] of text.matchAll(/(\d+)([smhd])/g)) {
      seconds += Number(amount) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
    }
    return nowMs - seconds * 1000;
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new UsageError(
    `--since must be a duration such as 30m, 1h, 2d or 1h30m, or an ISO-8601 time; got "${value}"`,
  );
}
