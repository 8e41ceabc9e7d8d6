/**
 * `npx tsx bench/p4Chart.ts results.json [out.svg]`: the bar chart BENCHMARKS.md shows for P4 — the worker
 * bundle's bytes by package, 80d7c5d's beside the new one's, from the JSON `npm run bench -- --out
 * results.json` writes. A plain SVG written here rather than a charting library: two series of seven bars.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { PackageGroup } from './bundleComposition.js';
import { escapeXml, svgStart } from './svg.js';

export interface ChartSide {
  label: string;
  bytes: number;
  byGroup: readonly { group: PackageGroup; bytes: number }[];
}

const WIDTH_PX = 760;
const LABEL_PX = 140;
const VALUE_PX = 80;
const BAR_PX = 14;
const GROUP_GAP_PX = 12;
const TOP_PX = 64;
const COLOURS = ['#9aa0a6', '#1a73e8'] as const;

const kb = (bytes: number) => `${(bytes / 1000).toLocaleString('en-US', { maximumFractionDigits: 0 })} KB`;

/** Horizontal bars, one pair per package group, scaled to the largest; each bar labelled with its size. */
export function bundleChartSvg(before: ChartSide, after: ChartSide): string {
  const sides = [before, after] as const;
  const bytesOf = (side: ChartSide, group: PackageGroup) =>
    side.byGroup.find((entry) => entry.group === group)?.bytes ?? 0;
  // A group neither bundle has (the X-Ray SDK, say) gets no row.
  const groups = before.byGroup
    .map(({ group }) => group)
    .filter((group) => bytesOf(before, group) > 0 || bytesOf(after, group) > 0);
  const maxBytes = Math.max(...sides.flatMap((side) => side.byGroup.map(({ bytes }) => bytes)), 1);
  const scale = (WIDTH_PX - LABEL_PX - VALUE_PX - 20) / maxBytes;
  const rowPx = 2 * BAR_PX + GROUP_GAP_PX;
  const heightPx = TOP_PX + groups.length * rowPx + 10;
  const parts: string[] = svgStart(
    { widthPx: WIDTH_PX, heightPx },
    `Worker bundle bytes by package, ${before.label} and ${after.label}`,
    `Worker bundle (index.mjs and its chunks) by package: ${before.label} ${kb(before.bytes)} → ${after.label} ${kb(after.bytes)}`,
  );
  sides.forEach((side, index) => {
    const x = LABEL_PX + index * 220;
    parts.push(
      `<rect x="${x}" y="32" width="12" height="12" fill="${COLOURS[index]}"/>`,
      `<text x="${x + 18}" y="42">${escapeXml(side.label)}</text>`,
    );
  });
  groups.forEach((group, row) => {
    const y = TOP_PX + row * rowPx;
    parts.push(
      `<text x="${LABEL_PX - 8}" y="${y + BAR_PX + 4}" text-anchor="end">${escapeXml(group)}</text>`,
    );
    sides.forEach((side, index) => {
      const bytes = bytesOf(side, group);
      const barY = y + index * BAR_PX;
      const widthPx = Math.max(bytes * scale, bytes > 0 ? 1 : 0);
      parts.push(
        `<rect x="${LABEL_PX}" y="${barY}" width="${widthPx.toFixed(1)}" height="${BAR_PX - 2}" fill="${COLOURS[index]}"/>`,
        `<text x="${(LABEL_PX + widthPx + 4).toFixed(1)}" y="${barY + BAR_PX - 3}" fill="#333333">${kb(bytes)}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

if (process.argv[1]?.endsWith('p4Chart.ts')) {
  const [input, output = 'bench/charts/p4-bundle-by-package.svg'] = process.argv.slice(2);
  if (input === undefined)
    throw new Error('usage: p4Chart.ts <results.json from npm run bench -- --out> [out.svg]');
  const { results } = JSON.parse(readFileSync(input, 'utf8')) as {
    results: { p4: { current: Omit<ChartSide, 'label'>; baseline: Omit<ChartSide, 'label'> } };
  };
  writeFileSync(
    output,
    bundleChartSvg(
      { label: '80d7c5d (before)', ...results.p4.baseline },
      { label: 'new (after)', ...results.p4.current },
    ),
  );
  process.stdout.write(`${output} written\n`);
}
