/**
 * The chart BENCHMARKS.md and the README show for P3: runs created and 429s in each rate-limit window, 80d7c5d's
 * worker above today's, from one run. A plain SVG written by hand, as p4Chart.ts's: two panels of paired bars.
 * `npm run bench` writes it (bench/charts/p3-rate-limit-windows.svg); `npx tsx bench/p3Chart.ts results.json
 * [out.svg]` redraws it from the JSON that `--out` writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { P3Result, P3SideResult } from './p3RateLimit.js';
import { escapeXml, svgStart } from './svg.js';

const WIDTH_PX = 760;
const LEFT_PX = 50;
const RIGHT_PX = 20;
const PANEL_PX = 170;
const PANEL_GAP_PX = 56;
const TOP_PX = 64;
const COLOURS = { created: '#1a73e8', rateLimited: '#d93025', limit: '#5f6368' } as const;

const percent = (value: number) => `${(value * 100).toFixed(1)} %`;

/** One panel per side, windows on the x axis (the same scale for both), a dashed line at the limit. */
export function rateLimitChartSvg(p3: Pick<P3Result, 'limit' | 'windowMs' | 'baseline' | 'current'>): string {
  const sides: readonly [string, P3SideResult][] = [
    ['80d7c5d', p3.baseline],
    ['now', p3.current],
  ];
  const windowCount = Math.max(...sides.map(([, side]) => side.windows.length), 1);
  const maxCount = Math.max(
    p3.limit,
    ...sides.flatMap(([, side]) => side.windows.flatMap((window) => [window.created, window.rateLimited])),
  );
  const slotPx = (WIDTH_PX - LEFT_PX - RIGHT_PX) / windowCount;
  const barPx = Math.max(1, (slotPx - 4) / 2);
  const heightPx = TOP_PX + sides.length * (PANEL_PX + PANEL_GAP_PX);
  const y = (panelTop: number, count: number) => panelTop + PANEL_PX - (count / maxCount) * PANEL_PX;
  const parts: string[] = svgStart(
    { widthPx: WIDTH_PX, heightPx },
    'Runs created and 429s per rate-limit window, 80d7c5d and now',
    `Runs created and 429s per window (L = ${p3.limit} per ${p3.windowMs / 1000} s), backlog enqueued at once`,
  );
  const legend: [string, string][] = [
    [COLOURS.created, 'runs created (202)'],
    [COLOURS.rateLimited, 'answered 429'],
  ];
  legend.forEach(([colour, label], index) => {
    const x = LEFT_PX + index * 180;
    parts.push(
      `<rect x="${x}" y="32" width="12" height="12" fill="${colour}"/>`,
      `<text x="${x + 18}" y="42">${label}</text>`,
    );
  });
  parts.push(
    `<line x1="${LEFT_PX + 360}" y1="38" x2="${LEFT_PX + 384}" y2="38" stroke="${COLOURS.limit}" stroke-dasharray="4 3"/>`,
    `<text x="${LEFT_PX + 390}" y="42">limit L</text>`,
  );
  sides.forEach(([name, side], panel) => {
    const top = TOP_PX + 18 + panel * (PANEL_PX + PANEL_GAP_PX);
    const summary = `${side.messages} messages: ${percent(side.utilisation)} of L, ${percent(side.rateLimitedShare)} 429s, ${side.deadLettered} dead-lettered; per message ${side.receivesPerMessage.toFixed(2)} receives, ${side.billedMsPerMessage.toFixed(0)} billed ms${side.drained ? '' : ' (not drained)'}`;
    parts.push(
      `<text x="${LEFT_PX}" y="${top - 6}" font-weight="bold">${escapeXml(name)}</text>`,
      `<text x="${LEFT_PX + 60}" y="${top - 6}" fill="#333333" font-size="11">${escapeXml(summary)}</text>`,
      `<line x1="${LEFT_PX}" y1="${top + PANEL_PX}" x2="${WIDTH_PX - RIGHT_PX}" y2="${top + PANEL_PX}" stroke="#333333"/>`,
      `<line x1="${LEFT_PX}" y1="${top}" x2="${LEFT_PX}" y2="${top + PANEL_PX}" stroke="#333333"/>`,
      `<text x="${LEFT_PX - 6}" y="${top + PANEL_PX + 4}" text-anchor="end">0</text>`,
      `<text x="${LEFT_PX - 6}" y="${y(top, maxCount) + 4}" text-anchor="end">${maxCount}</text>`,
      `<line x1="${LEFT_PX}" y1="${y(top, p3.limit).toFixed(1)}" x2="${WIDTH_PX - RIGHT_PX}" y2="${y(top, p3.limit).toFixed(1)}" stroke="${COLOURS.limit}" stroke-dasharray="4 3"/>`,
    );
    side.windows.forEach((window, index) => {
      const x = LEFT_PX + index * slotPx + 2;
      for (const [offset, count, colour] of [
        [0, window.created, COLOURS.created],
        [barPx, window.rateLimited, COLOURS.rateLimited],
      ] as const) {
        if (count === 0) continue;
        const barTop = y(top, count);
        parts.push(
          `<rect x="${(x + offset).toFixed(1)}" y="${barTop.toFixed(1)}" width="${barPx.toFixed(1)}" height="${(top + PANEL_PX - barTop).toFixed(1)}" fill="${colour}"/>`,
        );
      }
    });
    // Window numbers on the axis: every one when they fit, else every fifth.
    const step = slotPx >= 18 ? 1 : 5;
    for (let index = 0; index < windowCount; index += step) {
      parts.push(
        `<text x="${(LEFT_PX + (index + 0.5) * slotPx).toFixed(1)}" y="${top + PANEL_PX + 14}" text-anchor="middle" fill="#555555" font-size="10">${index}</text>`,
      );
    }
    parts.push(
      `<text x="${WIDTH_PX - RIGHT_PX}" y="${top + PANEL_PX + 28}" text-anchor="end" fill="#555555" font-size="10">window (${p3.windowMs / 1000} s each; 0 holds the enqueue)</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export const P3_CHART_PATH = 'bench/charts/p3-rate-limit-windows.svg';

if (process.argv[1]?.endsWith('p3Chart.ts')) {
  const [input, output = P3_CHART_PATH] = process.argv.slice(2);
  if (input === undefined)
    throw new Error('usage: p3Chart.ts <results.json from npm run bench -- --out> [out.svg]');
  const { results } = JSON.parse(readFileSync(input, 'utf8')) as { results: { p3: P3Result } };
  writeFileSync(output, rateLimitChartSvg(results.p3));
  process.stdout.write(`${output} written\n`);
}
