import type { Metafile } from 'esbuild';

/** Bytes of a bundle by npm package (or local folder), from esbuild's metafile. */
export interface BundleComposition {
  source: string;
  bytes: number;
}

/**
 * A build's JavaScript (`index.mjs` and its chunks, not the maps): its size, and its bytes by package, largest
 * first; `initBytes` is what a cold start loads, `index.mjs` and the chunks it imports statically (the rest is
 * reached only through `import()`, on first use).
 */
export function bundleComposition(metafile: Metafile): {
  bytes: number;
  initBytes: number;
  bySource: BundleComposition[];
} {
  const outputs = Object.entries(metafile.outputs).filter(([path]) => path.endsWith('.mjs'));
  const entry = outputs.find(([path]) => path.endsWith('index.mjs'));
  if (entry === undefined) throw new Error('esbuild produced no index.mjs');
  const bySource = new Map<string, number>();
  for (const [, output] of outputs) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const source = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? input.replace(/\/[^/]+$/, '');
      bySource.set(source, (bySource.get(source) ?? 0) + bytesInOutput);
    }
  }
  const loaded = new Set<string>();
  const load = (path: string) => {
    if (loaded.has(path)) return;
    loaded.add(path);
    for (const { path: imported, kind } of metafile.outputs[path]?.imports ?? []) {
      if (kind === 'import-statement' && metafile.outputs[imported] !== undefined) load(imported);
    }
  };
  load(entry[0]);
  return {
    bytes: outputs.reduce((sum, [, output]) => sum + output.bytes, 0),
    initBytes: [...loaded].reduce((sum, path) => sum + (metafile.outputs[path]?.bytes ?? 0), 0),
    bySource: [...bySource].map(([source, bytes]) => ({ source, bytes })).sort((a, b) => b.bytes - a.bytes),
  };
}

/** The groups P4 reports and charts, in the order they are drawn; a package belongs to the first that matches. */
export const PACKAGE_GROUPS = [
  { label: 'undici', matches: (source: string) => source === 'undici' },
  { label: 'zod', matches: (source: string) => source === 'zod' },
  {
    label: 'AWS SDK + Smithy',
    // mnemonist and obliterator: @aws-sdk/endpoint-cache's; @aws/lambda-invoke-store: the SDK's and Powertools'.
    matches: (source: string) =>
      /^@(aws-sdk|smithy|aws-crypto|aws)\//.test(source) ||
      ['mnemonist', 'obliterator', 'tslib', 'fast-xml-parser', 'strnum'].includes(source),
  },
  { label: 'Powertools', matches: (source: string) => source.startsWith('@aws-lambda-powertools/') },
  {
    label: 'X-Ray SDK',
    matches: (source: string) =>
      [
        'aws-xray-sdk-core',
        'cls-hooked',
        'async-hook-jl',
        'emitter-listener',
        'shimmer',
        'stack-chain',
        'atomic-batcher',
        'semver',
      ].includes(source),
  },
  { label: 'our code', matches: (source: string) => source.startsWith('functions/') },
  { label: 'other', matches: () => true },
] as const;

export type PackageGroup = (typeof PACKAGE_GROUPS)[number]['label'];

/** Bytes by group, every group present (0 when a bundle has none of it), in `PACKAGE_GROUPS` order. */
export function bytesByGroup(
  composition: readonly BundleComposition[],
): { group: PackageGroup; bytes: number }[] {
  const totals = new Map<PackageGroup, number>(PACKAGE_GROUPS.map(({ label }) => [label, 0]));
  for (const { source, bytes } of composition) {
    const group = PACKAGE_GROUPS.find(({ matches }) => matches(source))?.label ?? 'other';
    totals.set(group, (totals.get(group) ?? 0) + bytes);
  }
  return [...totals].map(([group, bytes]) => ({ group, bytes }));
}
