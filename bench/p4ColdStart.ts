import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Metafile } from 'esbuild';
import { buildWorkerBundle as buildShippedWorkerBundle } from '../scripts/buildWorkerBundle.js';
import { median, withoutWarmUp } from './stats.js';

const execFileAsync = promisify(execFile);

export interface P4Options {
  /** Fresh Node processes that import the bundle, per form (deployed NODE_OPTIONS, none); the first excluded. */
  initRuns: number;
}

export interface P4Bundle {
  /** The synthesized asset's `index.mjs` (a copy of dist/worker's), in a temporary directory removed by `remove()`. */
  path: string;
  bytes: number;
  sourceMapBytes: number;
  /** Bytes of the bundle by npm package (or `functions/…`), largest first, from the build's metafile. */
  composition: { source: string; bytes: number }[];
  /** Whether the synthesized asset is byte-for-byte the bundle the package's build script made. */
  compositionMatchesSynth: boolean;
  /** NODE_OPTIONS the stack gives the function ('' when none), applied to the init measurement as in Lambda. */
  nodeOptions: string;
  remove(): void;
}

export interface P4Result {
  bundle: Omit<P4Bundle, 'remove' | 'path'>;
  /** Median module-init time of the bundle in a fresh process, with the function's NODE_OPTIONS (as deployed). */
  initMs: number;
  initSamplesMs: number[];
  /** The same without NODE_OPTIONS, measured in alternation with the deployed form. */
  initMsWithoutNodeOptions: number;
  initSamplesWithoutNodeOptionsMs: number[];
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * The Lambda bundle exactly as the package ships it: built by the package's own build script
 * (scripts/buildWorkerBundle.ts, the one place its options live) into dist/worker, with esbuild's metafile
 * saying what the bytes are made of. Then the real stack is synthesized in a child process, as `cdk synth`
 * deploys it (`Code.fromAsset` of that directory), for the asset and the function's NODE_OPTIONS; the
 * asset must be byte-for-byte the bundle that was built.
 */
export async function buildWorkerBundle(): Promise<P4Bundle> {
  const built = await buildShippedWorkerBundle();
  const composition = bundleComposition(built.metafile);
  const outdir = mkdtempSync(join(tmpdir(), 'kycert-queue-bench-synth-'));
  try {
    const { stdout } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./synthWorkerBundle.ts', import.meta.url)), outdir],
      { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 },
    );
    const { bundle, nodeOptions } = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
      bundle: string;
      nodeOptions: string;
    };
    const bytes = statSync(bundle).size;
    return {
      path: bundle,
      bytes,
      sourceMapBytes: statSync(`${bundle}.map`).size,
      composition: composition.bySource,
      compositionMatchesSynth:
        composition.bytes === bytes && readFileSync(bundle).equals(readFileSync(built.path)),
      nodeOptions,
      remove: () => rmSync(outdir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
}

/** Bytes of the bundle by npm package (or local folder), from the build's metafile. */
function bundleComposition(metafile: Metafile): {
  bytes: number;
  bySource: { source: string; bytes: number }[];
} {
  const output = Object.entries(metafile.outputs).find(([path]) => path.endsWith('index.mjs'))?.[1];
  if (output === undefined) throw new Error('esbuild produced no index.mjs');
  const bySource = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const source = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? input.replace(/\/[^/]+$/, '');
    bySource.set(source, (bySource.get(source) ?? 0) + bytesInOutput);
  }
  return {
    bytes: output.bytes,
    bySource: [...bySource].map(([source, bytes]) => ({ source, bytes })).sort((a, b) => b.bytes - a.bytes),
  };
}

/**
 * Module-init time: a fresh Node process (the one running the bench, i.e. Node 24) imports the bundle as
 * Lambda's runtime would, with none of the worker's variables (its dependencies are built on the first
 * invocation) but the function's NODE_OPTIONS, and reports how long the import took.
 */
export async function measureInitMs(bundlePath: string, nodeOptions: string): Promise<number> {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(bundlePath).href)}); console.log(performance.now() - t);`;
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', ...(nodeOptions === '' ? {} : { NODE_OPTIONS: nodeOptions }) },
  });
  const initMs = Number(stdout.trim());
  if (!Number.isFinite(initMs)) throw new Error(`unexpected output from the init probe: ${stdout}`);
  return initMs;
}

/** Init runs alternate between the deployed NODE_OPTIONS and none; the first pair (a cold page cache) is excluded. */
export async function measureP4ColdStart(bundle: P4Bundle, options: P4Options): Promise<P4Result> {
  const deployed: number[] = [];
  const bare: number[] = [];
  for (let run = 0; run < options.initRuns; run++) {
    deployed.push(await measureInitMs(bundle.path, bundle.nodeOptions));
    bare.push(await measureInitMs(bundle.path, ''));
  }
  const { remove: _remove, path: _path, ...rest } = bundle;
  return {
    bundle: rest,
    initMs: median(withoutWarmUp(deployed, 1)),
    initSamplesMs: deployed,
    initMsWithoutNodeOptions: median(withoutWarmUp(bare, 1)),
    initSamplesWithoutNodeOptionsMs: bare,
  };
}
