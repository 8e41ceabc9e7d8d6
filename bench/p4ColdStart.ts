import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { buildWorkerBundle as buildShippedWorkerBundle } from '../scripts/buildWorkerBundle.js';
import {
  type BundleComposition,
  bundleComposition,
  bytesByGroup,
  type PackageGroup,
} from './bundleComposition.js';
import {
  type COLD_START_METRICS,
  type ColdStartOptions,
  type ColdStartSummary,
  measureColdStarts,
  medianRoundRatio,
} from './measureColdStarts.js';
import { type BaselineFixture, P4_BASELINE, unpackP4Baseline } from './p4Baseline.js';

const execFileAsync = promisify(execFile);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export type P4Options = ColdStartOptions;

/** The worker as the stack deploys it, from a synth of the real stack (bench/synthWorkerBundle.ts). */
export interface SynthesizedWorker {
  /** The asset's `index.mjs`. */
  bundle: string;
  /** The function's NODE_OPTIONS ('' when none). */
  nodeOptions: string;
  /** The function's literal environment variables. */
  environment: Record<string, string>;
}

export interface P4Bundles {
  current: {
    path: string;
    bytes: number;
    sourceMapBytes: number;
    composition: BundleComposition[];
    /** Whether the synthesized asset is byte-for-byte the bundle the package's build script made. */
    compositionMatchesSynth: boolean;
    worker: SynthesizedWorker;
  };
  /** 80d7c5d's bundle as shipped (bench/p4Baseline.ts). */
  baseline: BaselineFixture;
  /** Removes the temporary directory both were put in. */
  remove(): void;
}

export interface P4Side extends Omit<ColdStartSummary, 'label'> {
  bytes: number;
  sourceMapBytes: number;
  composition: BundleComposition[];
  byGroup: { group: PackageGroup; bytes: number }[];
}

export interface P4Result {
  nodeOptions: string;
  compositionMatchesSynth: boolean;
  /** With the function's NODE_OPTIONS, an error thrown in the new bundle names its TypeScript source. */
  stackTraceMapped: boolean;
  /** Measured rounds (the first is excluded). */
  rounds: number;
  current: P4Side;
  baseline: P4Side & { commit: string };
  /**
   * Median over rounds of new ÷ 80d7c5d's, each as COLD_START_METRICS defines it; `initPlusFirstPost` is the
   * final line's `p4_init_ratio`.
   */
  ratios: Record<keyof typeof COLD_START_METRICS, number>;
}

/**
 * The two bundles P4 compares. The new one exactly as the package ships it: built by the package's own build
 * script (scripts/buildWorkerBundle.ts, the one place its options live) into dist/worker, with esbuild's
 * metafile saying what the bytes are made of; then the real stack is synthesized in a child process, as
 * `cdk synth` deploys it (`Code.fromAsset` of that directory), for the asset, the function's NODE_OPTIONS and
 * environment; the asset must be byte-for-byte the bundle that was built. The old one is 80d7c5d's, unpacked
 * from its fixture.
 */
export async function buildP4Bundles(): Promise<P4Bundles> {
  const built = await buildShippedWorkerBundle();
  const composition = bundleComposition(built.metafile);
  const outdir = mkdtempSync(join(tmpdir(), 'kycert-queue-bench-p4-'));
  try {
    const worker = await synthesizeWorker(join(outdir, 'synth'));
    // The asset is the directory: index.mjs, the chunks it loads at once or on first use, their maps.
    const assetDir = dirname(worker.bundle);
    const assetFiles = readdirSync(assetDir).sort();
    const sizeOf = (pattern: RegExp) =>
      assetFiles
        .filter((file) => pattern.test(file))
        .reduce((sum, file) => sum + statSync(join(assetDir, file)).size, 0);
    const bytes = sizeOf(/\.mjs$/);
    const builtDir = dirname(built.path);
    const baselineDir = join(outdir, 'baseline-80d7c5d');
    mkdirSync(baselineDir);
    return {
      current: {
        path: worker.bundle,
        bytes,
        sourceMapBytes: sizeOf(/\.mjs\.map$/),
        composition: composition.bySource,
        compositionMatchesSynth:
          composition.bytes === bytes &&
          JSON.stringify(assetFiles) === JSON.stringify(built.files) &&
          built.files.every((file) =>
            readFileSync(join(assetDir, file)).equals(readFileSync(join(builtDir, file))),
          ),
        worker,
      },
      baseline: unpackP4Baseline(baselineDir),
      remove: () => rmSync(outdir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
}

/** The real stack synthesized into `outdir` by a child process (bench/synthWorkerBundle.ts). */
export async function synthesizeWorker(outdir: string): Promise<SynthesizedWorker> {
  const { stdout } = await execFileAsync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./synthWorkerBundle.ts', import.meta.url)), outdir],
    { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as SynthesizedWorker;
}

/**
 * Whether, with `nodeOptions`, the bundle's stack traces point at the TypeScript sources: the handler invoked
 * without any configuration throws the worker's ConfigError from functions/kycert-worker/config.ts.
 */
export async function stackTraceMapped(bundlePath: string, nodeOptions: string): Promise<boolean> {
  const script = `const { handler } = await import(${JSON.stringify(pathToFileURL(bundlePath).href)});
try { await handler({ Records: [] }, {}); console.log('no error'); } catch (error) { console.log(error.stack); }`;
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', ...(nodeOptions === '' ? {} : { NODE_OPTIONS: nodeOptions }) },
  });
  return /functions\/kycert-worker\/config\.ts:\d+:\d+/.test(stdout);
}

/** The deployed function's name, memory and timeout, for the probe's Lambda variables and context. */
const FUNCTION = {
  functionName: 'kycert-queue-bench-worker',
  memorySizeMb: 512,
  timeoutSeconds: 60,
} as const;

/**
 * Cold starts of 80d7c5d's bundle and the new one, in alternation (bench/measureColdStarts.ts), both with the
 * new function's environment as synthesized, its NODE_OPTIONS (`--enable-source-maps`) included.
 */
export async function measureP4ColdStart(bundles: P4Bundles, options: P4Options): Promise<P4Result> {
  const { current, baseline } = bundles;
  const run = await measureColdStarts(
    [
      { label: '80d7c5d', path: baseline.path },
      { label: 'new', path: current.path },
    ],
    { functionEnvironment: current.worker.environment, ...FUNCTION },
    options,
  );
  const [old, now] = run.bundles as [ColdStartSummary, ColdStartSummary];
  const side = (summary: ColdStartSummary, bundle: BaselineFixture | P4Bundles['current']): P4Side => {
    const { label: _label, ...measured } = summary;
    return {
      bytes: bundle.bytes,
      sourceMapBytes: bundle.sourceMapBytes,
      composition: bundle.composition,
      byGroup: bytesByGroup(bundle.composition),
      ...measured,
    };
  };
  return {
    nodeOptions: current.worker.nodeOptions,
    compositionMatchesSynth: current.compositionMatchesSynth,
    stackTraceMapped: await stackTraceMapped(current.path, current.worker.nodeOptions),
    rounds: options.rounds - 1,
    current: side(now, current),
    baseline: { commit: P4_BASELINE.commit, ...side(old, baseline) },
    ratios: {
      initPlusFirstPost: medianRoundRatio(now.samples, old.samples, 'initPlusFirstPost'),
      initPlusFirstInvocation: medianRoundRatio(now.samples, old.samples, 'initPlusFirstInvocation'),
      initPlusFirstInvocationCpu: medianRoundRatio(now.samples, old.samples, 'initPlusFirstInvocationCpu'),
      init: medianRoundRatio(now.samples, old.samples, 'init'),
      initCpu: medianRoundRatio(now.samples, old.samples, 'initCpu'),
    },
  };
}
