/**
 * `npx tsx bench/p4Cuts.ts [--rounds N] [--out cuts.json]`: what each of issue 14's cold-start cuts is worth,
 * all measured in one run. Every variant is today's worker built from today's sources with the shipped options
 * (scripts/buildWorkerBundle.ts, WORKER_BUNDLE_OPTIONS) with one thing changed, and all are measured side by
 * side with 80d7c5d's bundle as shipped (bench/p4Baseline.ts) by P4's probe (bench/measureColdStarts.ts):
 * init plus the first invocation, the function's environment and NODE_OPTIONS as synthesized.
 *
 * A cut's own effect is the ratio of a variant to "no cuts" (today's code with 80d7c5d's options and zod
 * import); "no cuts" against 80d7c5d is what the code itself grew by. Variants marked "not shipped"
 * measure a possibility the shipped bundle does not take (BENCHMARKS.md, P4, says why).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { type BuildOptions, build, type Plugin } from 'esbuild';
import { buildWorkerBundle, finishBundle, WORKER_BUNDLE_OPTIONS } from '../scripts/buildWorkerBundle.js';
import { bundleComposition, bytesByGroup } from './bundleComposition.js';
import {
  COLD_START_METRICS,
  type ColdStartBundle,
  type ColdStartSample,
  measureColdStarts,
  medianRoundRatio,
} from './measureColdStarts.js';
import { unpackP4Baseline } from './p4Baseline.js';
import { synthesizeWorker } from './p4ColdStart.js';
import { median, withoutWarmUp } from './stats.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

interface Variant {
  label: string;
  /** The variant its effect is measured against (by label); "no cuts" when absent. */
  reference?: string;
  /** The shipped options with these changes. */
  options: (shipped: BuildOptions) => BuildOptions;
  rewrites?: readonly SourceRewrite[];
  withoutLlhttpFallback?: boolean;
  /** The map cut to our own sources, as the build script does (`ownSourcesOnly`). */
  ownSourcesMap?: boolean;
}

interface SourceRewrite {
  file: RegExp;
  rewrite: (source: string) => string;
}

/**
 * `import { z } from 'zod'`, as 80d7c5d imported it: esbuild then keeps zod's whole namespace, locales and all.
 * The worker's config (config.ts) is written for zod/mini since issue 14 and stays so in every variant.
 */
const ZOD_NAMED_IMPORT: SourceRewrite = {
  file: /functions\/.*\.ts$/,
  rewrite: (source) => source.replace("import * as z from 'zod';", "import { z } from 'zod';"),
};

/** zod's parsers without code generation: no `new Function` on the first parse of each object schema. */
const ZOD_JITLESS: SourceRewrite = {
  file: /functions\/kycert-worker\/runRequestMessage\.ts$/,
  rewrite: (source) =>
    source.replace("import * as z from 'zod';", "import * as z from 'zod';\nz.config({ jitless: true });"),
};

/**
 * Powertools Tracer wired as the worker would wire it (the worker does not: BENCHMARKS.md, P4, "Tracing"):
 * created with the other dependencies, the SQS and DynamoDB clients captured, and the POST to kycert traced by
 * the tracer itself, which follows undici's diagnostics channels (`captureHTTPsRequests`, on by default).
 */
const WITH_TRACER: SourceRewrite = {
  file: /functions\/kycert-worker\/createWorkerDeps\.ts$/,
  rewrite: (source) => {
    const edits: [string, string][] = [
      [
        "import type { SQSClient } from '@aws-sdk/client-sqs';",
        "import type { SQSClient } from '@aws-sdk/client-sqs';\nimport { Tracer } from '@aws-lambda-powertools/tracer';",
      ],
      ['): WorkerDeps {', '): WorkerDeps {\n  const tracer = new Tracer({ serviceName: SERVICE_NAME });'],
      [
        'new SQSClient({ useQueueUrlAsEndpoint: false })',
        'tracer.captureAWSv3Client(new SQSClient({ useQueueUrlAsEndpoint: false }))',
      ],
      ['new DynamoDBClient({})', 'tracer.captureAWSv3Client(new DynamoDBClient({}))'],
    ];
    return edits.reduce((text, [from, to]) => {
      if (!text.includes(from))
        throw new Error(`createWorkerDeps.ts no longer has "${from}": update the tracer variant`);
      return text.replace(from, to);
    }, source);
  },
};

/** The shipped options in one `index.mjs`: what is reached through `import()` inlined, evaluated on first use. */
const ONE_FILE = (shipped: BuildOptions): BuildOptions => {
  const { splitting: _splitting, chunkNames: _chunkNames, external: _external, ...rest } = shipped;
  return { ...rest, entryPoints: { index: join(repoRoot, 'functions/kycert-worker/handler.ts') } };
};

/** 80d7c5d's options: no `sourcesContent: false`, no `esbuildDetection`, one file. */
const OLD_OPTIONS = (shipped: BuildOptions): BuildOptions => {
  const { sourcesContent: _sourcesContent, define: _define, ...rest } = ONE_FILE(shipped);
  return rest;
};

const VARIANTS: readonly Variant[] = [
  {
    label: 'no cuts (today’s code, 80d7c5d’s options)',
    options: OLD_OPTIONS,
    rewrites: [ZOD_NAMED_IMPORT],
  },
  { label: 'zod: import * as z', options: OLD_OPTIONS },
  {
    label: 'source map: sourcesContent false',
    options: (shipped) => ({ ...OLD_OPTIONS(shipped), sourcesContent: false }),
    rewrites: [ZOD_NAMED_IMPORT],
  },
  {
    label: 'source map: + our own sources only',
    reference: 'source map: sourcesContent false',
    options: (shipped) => ({ ...OLD_OPTIONS(shipped), sourcesContent: false }),
    rewrites: [ZOD_NAMED_IMPORT],
    ownSourcesMap: true,
  },
  {
    label: 'undici: esbuildDetection (no Milo)',
    options: (shipped) => ({ ...OLD_OPTIONS(shipped), define: shipped.define }),
    rewrites: [ZOD_NAMED_IMPORT],
  },
  { label: 'all cuts (shipped)', options: (shipped) => shipped, ownSourcesMap: true },
  {
    label: 'not shipped: all cuts in one index.mjs (no splitting)',
    reference: 'all cuts (shipped)',
    options: ONE_FILE,
    ownSourcesMap: true,
  },
  {
    label: 'not shipped: undici inside index.mjs (no undici chunk)',
    reference: 'all cuts (shipped)',
    options: (shipped) => ({
      ...shipped,
      entryPoints: { index: join(repoRoot, 'functions/kycert-worker/handler.ts') },
    }),
    ownSourcesMap: true,
  },
  {
    label: 'not shipped: + Powertools Tracer',
    reference: 'all cuts (shipped)',
    options: (shipped) => shipped,
    ownSourcesMap: true,
    rewrites: [WITH_TRACER],
  },
  {
    label: 'not shipped: + llhttp fallback left out',
    reference: 'all cuts (shipped)',
    options: (shipped) => shipped,
    ownSourcesMap: true,
    withoutLlhttpFallback: true,
  },
  {
    label: 'not shipped: + zod jitless',
    reference: 'all cuts (shipped)',
    options: (shipped) => shipped,
    ownSourcesMap: true,
    rewrites: [ZOD_JITLESS],
  },
];

function variantPlugin(variant: Variant): Plugin {
  return {
    name: 'p4-variant',
    setup(build) {
      if (variant.withoutLlhttpFallback) {
        build.onResolve({ filter: /llhttp-wasm\.js$/ }, () => ({
          path: 'llhttp-wasm',
          namespace: 'p4-stub',
        }));
        build.onLoad({ filter: /^llhttp-wasm$/, namespace: 'p4-stub' }, () => ({
          contents: "throw new Error('llhttp without WASM SIMD is not in this bundle');",
          loader: 'js',
        }));
      }
      const rewrites = variant.rewrites ?? [];
      if (rewrites.length > 0) {
        build.onLoad({ filter: /functions\/.*\.ts$/ }, ({ path }) => {
          let contents = readFileSync(path, 'utf8');
          for (const { file, rewrite } of rewrites) if (file.test(path)) contents = rewrite(contents);
          return { contents, loader: 'ts' };
        });
      }
    },
  };
}

const program = new Command('npx tsx bench/p4Cuts.ts')
  .option('--rounds <n>', 'fresh processes per variant (the first round excluded)', '12')
  .option(
    '--only <labels>',
    'measure only the variants whose label contains one of these comma-separated words',
  )
  .option('--out <file>', 'also write every sample as JSON to FILE')
  .parse();
const flags = program.opts<{ rounds: string; only?: string; out?: string }>();
const rounds = Number(flags.rounds);
if (!Number.isInteger(rounds) || rounds < 2) throw new Error('--rounds must be an integer of at least 2');

const dir = mkdtempSync(join(tmpdir(), 'kycert-queue-p4-cuts-'));
try {
  // The synth needs dist/worker; its environment and NODE_OPTIONS are the deployed function's.
  await buildWorkerBundle();
  const worker = await synthesizeWorker(join(dir, 'synth'));
  mkdirSync(join(dir, 'baseline'));
  const baseline = unpackP4Baseline(join(dir, 'baseline'));
  const built: {
    label: string;
    reference: string | undefined;
    path: string;
    bytes: number;
    initBytes: number;
    sourceMapBytes: number;
    byGroup: ReturnType<typeof bytesByGroup>;
  }[] = [];
  const words = flags.only?.split(',') ?? [];
  const picked = (variant: Variant) =>
    words.length === 0 || words.some((word) => variant.label.includes(word));
  // "no cuts" always, and the variant each picked one is measured against.
  const chosen = VARIANTS.filter(
    (variant, index) =>
      index === 0 ||
      picked(variant) ||
      VARIANTS.some((other) => picked(other) && other.reference === variant.label),
  );
  for (const [index, variant] of chosen.entries()) {
    const outdir = join(dir, `variant-${index}`);
    const result = await build({
      ...variant.options(WORKER_BUNDLE_OPTIONS),
      outdir,
      metafile: true,
      plugins: [variantPlugin(variant)],
    });
    // As the build script finishes it: the undici entry's output removed, maps cut (or not), sourceless ones dropped.
    const metafile = finishBundle(outdir, result.metafile, { fullMaps: variant.ownSourcesMap !== true });
    const maps = readdirSync(outdir).filter((file) => file.endsWith('.map'));
    const outfile = join(outdir, 'index.mjs');
    const composition = bundleComposition(metafile);
    built.push({
      label: variant.label,
      reference: variant.reference,
      path: outfile,
      bytes: composition.bytes,
      initBytes: composition.initBytes,
      sourceMapBytes: maps.reduce((sum, map) => sum + statSync(join(outdir, map)).size, 0),
      byGroup: bytesByGroup(composition.bySource),
    });
  }
  const bundles: ColdStartBundle[] = [{ label: '80d7c5d as shipped', path: baseline.path }, ...built];
  process.stderr.write(`measuring ${bundles.length} bundles × ${rounds} rounds\n`);
  const run = await measureColdStarts(
    bundles,
    {
      functionEnvironment: worker.environment,
      functionName: 'kycert-queue-bench-worker',
      memorySizeMb: 512,
      timeoutSeconds: 60,
    },
    { rounds, warmInvocations: 3 },
  );
  const samplesOf = (index: number) => (run.bundles[index]?.samples ?? []) as ColdStartSample[];
  const sizes = [
    { bytes: baseline.bytes, initBytes: baseline.bytes, sourceMapBytes: baseline.sourceMapBytes },
    ...built,
  ];
  const referenceIndex = (label: string | undefined) =>
    label === undefined ? 1 : 1 + built.findIndex((variant) => variant.label === label);
  const ratios = (index: number, reference: number) =>
    Object.fromEntries(
      (Object.keys(COLD_START_METRICS) as (keyof typeof COLD_START_METRICS)[]).map((metric) => [
        metric,
        medianRoundRatio(samplesOf(index), samplesOf(reference), metric),
      ]),
    ) as Record<keyof typeof COLD_START_METRICS, number>;
  const rows = run.bundles.map((summary, index) => ({
    variant: summary.label,
    bytes: sizes[index]?.bytes ?? 0,
    initBytes: sizes[index]?.initBytes ?? 0,
    sourceMapBytes: sizes[index]?.sourceMapBytes ?? 0,
    initMs: summary.initMs,
    initCpuMs: median(withoutWarmUp(samplesOf(index), 1).map((sample) => sample.initCpuMs)),
    firstPostMs: summary.firstPostMs,
    firstInvocationMs: summary.firstInvocationMs,
    nextInvocationMs: summary.warmInvocationMs,
    nextInvocationCpuMs: summary.warmCpuMs,
    vs80d7c5d: ratios(index, 0),
    vsNoCuts: ratios(index, 1),
    reference: built[index - 1]?.reference ?? 'no cuts',
    vsReference: ratios(index, referenceIndex(built[index - 1]?.reference)),
  }));
  const f = (value: number, digits = 1) => value.toFixed(digits);
  const r = (value: number) => value.toFixed(3);
  process.stdout.write(
    `${[
      '| variant | JS B (loaded at init) | maps B | init ms (CPU) | 1st POST ms | 1st invocation ms | next invocations ms (CPU) | init + 1st POST ÷ 80d7c5d | measured against | init + 1st POST ÷ it | init CPU ÷ it | init + 1st invocation CPU ÷ it |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |',
      ...rows.map(
        (row) =>
          `| ${row.variant} | ${row.bytes.toLocaleString('en-US')} (${row.initBytes.toLocaleString('en-US')}) | ${row.sourceMapBytes.toLocaleString('en-US')} | ` +
          `${f(row.initMs)} (${f(row.initCpuMs)}) | ${f(row.firstPostMs)} | ${f(row.firstInvocationMs)} | ${f(row.nextInvocationMs)} (${f(row.nextInvocationCpuMs)}) | ` +
          `${r(row.vs80d7c5d.initPlusFirstPost)} | ${row.reference} | ${r(row.vsReference.initPlusFirstPost)} | ` +
          `${r(row.vsReference.initCpu)} | ${r(row.vsReference.initPlusFirstInvocationCpu)} |`,
      ),
    ].join('\n')}\n`,
  );
  for (const summary of run.bundles) {
    const names = Object.entries(summary.firstTraceSubsegments);
    if (names.length > 0) {
      process.stdout.write(
        `${summary.label}: X-Ray subsegments of a first invocation: ${names.map(([name, count]) => `${name} ×${count}`).join(', ')}\n`,
      );
    }
  }
  for (const variant of built) {
    process.stdout.write(
      `${variant.label}: ${variant.byGroup.map(({ group, bytes }) => `${group} ${bytes}`).join(', ')}\n`,
    );
  }
  if (flags.out !== undefined) {
    writeFileSync(flags.out, `${JSON.stringify({ rounds, rows, run }, null, 2)}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
