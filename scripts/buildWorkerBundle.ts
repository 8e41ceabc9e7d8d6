/**
 * Builds the Lambda functions' code: per function an ESM `index.mjs` with its source map and the chunks it loads
 * (at init or on first use), every dependency inside (the AWS SDK included), into `dist/<name>/` (lib/bundleDir.ts), which the package ships and the constructs
 * deploy with `Code.fromAsset`: the worker, the hourly API key age check and the webhook receiver. The only place the bundles'
 * options live: `npm run build` (prepack), `cdk synth` in this repository, the test suite's global setup and
 * the benchmark's P4 all build through here.
 *
 * `npm run build:worker` runs it alone.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode, encode, type SourceMapSegment } from '@jridgewell/sourcemap-codec';
import { type BuildOptions, build, type Metafile } from 'esbuild';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Where the package keeps the bundles; lib/bundleDir.ts reads them from the same place. */
export const WORKER_BUNDLE_DIR = join(repoRoot, 'dist', 'worker');
export const API_KEY_AGE_CHECK_BUNDLE_DIR = join(repoRoot, 'dist', 'api-key-age-check');
export const WEBHOOK_RECEIVER_BUNDLE_DIR = join(repoRoot, 'dist', 'kycert-webhook');
export const WORKER_BUNDLE_FILE = 'index.mjs';
/** The worker bundle's second entry point (functions/kycert-worker/undiciChunk.ts): its output is removed. */
export const UNDICI_ENTRY = 'undici-entry';

/**
 * ESM with a `createRequire` banner because undici and the AWS SDK still `require()` Node built-ins. Every
 * dependency is bundled, the AWS SDK included: the runtime's SDK changes under us without notice, and the
 * worker relies on recent client options (`useQueueUrlAsEndpoint`); bundling ships the versions the tests
 * ran against. The source map lets `--enable-source-maps` (the function's NODE_OPTIONS) point stack traces
 * at the TypeScript sources.
 *
 * These are there for the cold start (issue 14, BENCHMARKS.md P4, each measured by bench/p4Cuts.ts):
 * - `sourcesContent: false`: the map keeps the positions but not a copy of every source file, so Node, which
 *   reads the whole map when the bundle loads, parses a third of it; stack traces stay mapped. The build then
 *   cuts the map to our own sources (`ownSourcesOnly`).
 * - `esbuildDetection`: defined as undici's own Node.js build defines it (its `build:node` script, the bundle
 *   Node.js ships as `fetch`), which leaves out the experimental Milo HTTP parser — two base64 WebAssembly
 *   builds that undici loads only when asked to (`UNDICI_USE_MILO`, the `useMilo` option; we ask for neither).
 *   The llhttp parser undici uses by default stays, in both its builds (WASM SIMD, and the fallback).
 * - `splitting`: what is reached only through `await import()` goes into chunks of its own, beside `index.mjs`,
 *   loaded on first use — the SQS and EventBridge clients (functions/kycert-worker/lazyClient.ts), and the
 *   credential providers the SDK itself imports on demand. Code shared by the two sides (the Smithy core) is in
 *   chunks that `index.mjs` imports, once. The asset is the directory (`Code.fromAsset(bundleDir('worker'))`).
 *   `bowser` (the SDK's browser user agent parser, behind an `import()` esbuild keeps as a chunk although the
 *   code around it is dropped) is left out: nothing in the bundle refers to it.
 * - A second entry point, functions/kycert-worker/undiciChunk.ts, which puts undici in a chunk of its own
 *   (`UNDICI_ENTRY`, its output removed after the build). A chunk without any of our code ships without a
 *   source map (`finishBundle`): Node then has no map to read for it, nor its lines to measure.
 */
export const WORKER_BUNDLE_OPTIONS = {
  absWorkingDir: repoRoot,
  entryPoints: {
    index: join(repoRoot, 'functions/kycert-worker/handler.ts'),
    [UNDICI_ENTRY]: join(repoRoot, 'functions/kycert-worker/undiciChunk.ts'),
  },
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  mainFields: ['module', 'main'],
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  splitting: true,
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  external: ['bowser'],
  define: { esbuildDetection: '1' },
  banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
  logLevel: 'warning',
} as const satisfies BuildOptions;

export interface WorkerBundle {
  /** The bundle's entry: `<outdir>/index.mjs`, its source map and its chunks (each with its map) beside it. */
  path: string;
  /** Every file of the bundle, by name (`index.mjs`, `index.mjs.map`, `<chunk>-<hash>.mjs`, …). */
  files: string[];
  /** esbuild's metafile, to say what the bytes are made of (bench P4). */
  metafile: Metafile;
}

/**
 * Builds into a fresh directory and then moves each file into `outdir`: a rename is atomic, and the chunks'
 * names carry their content's hash, so a synth reading `dist/worker` at the same time (parallel test files)
 * finds every chunk the `index.mjs` it reads imports; `index.mjs` goes last, and the old build's chunks are
 * removed after it.
 */
export async function buildWorkerBundle(outdir: string = WORKER_BUNDLE_DIR): Promise<WorkerBundle> {
  return buildBundle(WORKER_BUNDLE_OPTIONS, outdir);
}

/** The API key age check (lib/apiKeyAgeCheck.ts): the worker's options, its own entry point. */
export async function buildApiKeyAgeCheckBundle(
  outdir: string = API_KEY_AGE_CHECK_BUNDLE_DIR,
): Promise<WorkerBundle> {
  return buildBundle(
    {
      ...WORKER_BUNDLE_OPTIONS,
      entryPoints: { index: join(repoRoot, 'functions/api-key-age-check/handler.ts') },
    },
    outdir,
  );
}

/** The webhook receiver behind its Function URL (lib/webhookReceiver.ts): the worker's options, its own entry point. */
export async function buildWebhookReceiverBundle(
  outdir: string = WEBHOOK_RECEIVER_BUNDLE_DIR,
): Promise<WorkerBundle> {
  return buildBundle(
    {
      ...WORKER_BUNDLE_OPTIONS,
      entryPoints: { index: join(repoRoot, 'functions/kycert-webhook/handler.ts') },
    },
    outdir,
  );
}

/** Every function's bundle, as the package ships them. */
export async function buildFunctionBundles(): Promise<void> {
  await Promise.all([buildWorkerBundle(), buildApiKeyAgeCheckBundle(), buildWebhookReceiverBundle()]);
}

async function buildBundle(options: BuildOptions, outdir: string): Promise<WorkerBundle> {
  mkdirSync(outdir, { recursive: true });
  const staging = mkdtempSync(join(outdir, '..', '.bundle-build-'));
  try {
    const result = await build({ ...options, outdir: staging, metafile: true });
    const metafile = finishBundle(staging, result.metafile);
    const files = readdirSync(staging);
    const entryLast = (file: string) => (basename(file).startsWith(`${WORKER_BUNDLE_FILE}`) ? 1 : 0);
    for (const file of [...files].sort((a, b) => entryLast(a) - entryLast(b))) {
      renameSync(join(staging, file), join(outdir, file));
    }
    const kept = new Set(files);
    for (const file of readdirSync(outdir)) {
      if (/\.mjs(\.map)?$/.test(file) && !kept.has(file)) rmSync(join(outdir, file), { force: true });
    }
    return { path: join(outdir, WORKER_BUNDLE_FILE), files: files.sort(), metafile };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * The build's output as it ships, in `dir`: the undici entry's own output removed (nothing imports it); every
 * map cut to our own sources (`ownSourcesOnly`) or, with `fullMaps`, left whole (bench/p4Cuts.ts); a map left
 * without any source removed, with the `sourceMappingURL` comment that names it. Returns the metafile with
 * its outputs as they now are (removed files gone, sizes as on disk).
 */
export function finishBundle(
  dir: string,
  metafile: Metafile,
  options: { fullMaps?: boolean } = {},
): Metafile {
  const outputs = { ...metafile.outputs };
  const fileOf = (output: string) => join(dir, basename(output));
  for (const output of Object.keys(outputs)) {
    if (basename(output).startsWith(`${UNDICI_ENTRY}.`)) {
      rmSync(fileOf(output), { force: true });
      delete outputs[output];
    }
  }
  for (const output of Object.keys(outputs).filter((path) => path.endsWith('.map'))) {
    const map = JSON.parse(readFileSync(fileOf(output), 'utf8')) as SourceMapV3;
    const own = ownSourcesOnly(map);
    if (own.sources.length > 0) {
      const text = JSON.stringify(options.fullMaps === true ? map : own);
      writeFileSync(fileOf(output), text);
      outputs[output] = {
        ...(outputs[output] as Metafile['outputs'][string]),
        bytes: Buffer.byteLength(text),
      };
      continue;
    }
    rmSync(fileOf(output), { force: true });
    delete outputs[output];
    const js = output.slice(0, -'.map'.length);
    const code = readFileSync(fileOf(js), 'utf8');
    const comment = `//# sourceMappingURL=${basename(js)}.map\n`;
    if (!code.endsWith(comment)) throw new Error(`${basename(js)} does not end with its sourceMappingURL`);
    const stripped = code.slice(0, -comment.length);
    writeFileSync(fileOf(js), stripped);
    outputs[js] = { ...(outputs[js] as Metafile['outputs'][string]), bytes: Buffer.byteLength(stripped) };
  }
  return { ...metafile, outputs };
}

/** The parts of a source map (v3) the bundles' maps use. */
export interface SourceMapV3 {
  version: 3;
  sources: string[];
  names: string[];
  mappings: string;
}

/**
 * The map cut to our own sources (no `node_modules/`): Node decodes the whole map when the bundle loads with
 * `--enable-source-maps`, and the dependencies' mappings are most of it — 1.5 MB against 60 KB for the worker,
 * a tenth of its init (BENCHMARKS.md, P4). A stack frame in our code still names its TypeScript file and line;
 * a frame inside a dependency shows its place in index.mjs.
 */
export function ownSourcesOnly(map: SourceMapV3): SourceMapV3 {
  const sourceIndex = new Map<number, number>();
  const sources: string[] = [];
  map.sources.forEach((source, index) => {
    if (source.includes('node_modules/')) return;
    sourceIndex.set(index, sources.length);
    sources.push(source);
  });
  const nameIndex = new Map<number, number>();
  const names: string[] = [];
  const keptName = (index: number) => {
    if (!nameIndex.has(index)) {
      nameIndex.set(index, names.length);
      names.push(map.names[index] ?? '');
    }
    return nameIndex.get(index) as number;
  };
  const lines = decode(map.mappings).map((line) =>
    line.flatMap((segment): SourceMapSegment[] => {
      if (segment.length === 1) return [];
      const [column, source, sourceLine, sourceColumn] = segment;
      const kept = sourceIndex.get(source);
      if (kept === undefined) return [];
      return segment.length === 5
        ? [[column, kept, sourceLine, sourceColumn, keptName(segment[4])]]
        : [[column, kept, sourceLine, sourceColumn]];
    }),
  );
  return { version: 3, sources, names, mappings: encode(lines) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // Quiet: `cdk synth` runs this as its pre-synth build, and esbuild reports its own warnings.
  await buildFunctionBundles();
}
