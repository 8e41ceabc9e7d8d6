/**
 * `npx tsx bench/buildP4Baseline.ts`: makes P4's baseline fixture (bench/fixtures/worker-bundle-80d7c5d/) from
 * commit 80d7c5d, and proves it is that commit's bundle as shipped:
 *
 * 1. the commit's files (`git archive`) into a temporary folder inside this repository, so its imports resolve
 *    to this node_modules (the lockfile's versions are the commit's: only dev/prod flags moved since);
 * 2. the commit's own `bench/synthWorkerBundle.ts`: its stack synthesized, its NodejsFunction bundling with the
 *    local esbuild, as `cdk synth` deployed it — the asset's `index.mjs` must have the pinned size and digest;
 * 3. the same build through esbuild's API with the commit's bundling options (NodejsFunction's command line) and
 *    a metafile, which must give the same bytes: its metafile is then the baseline's composition by package;
 * 4. the asset's `index.mjs` and `index.mjs.map`, brotli-compressed, and `composition.json`, into the fixture.
 *
 * Run it again only to check the fixture; it fails if node_modules no longer gives 80d7c5d's bytes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants } from 'node:zlib';
import { build } from 'esbuild';
import { bundleComposition } from './bundleComposition.js';
import { P4_BASELINE, P4_BASELINE_DIR, sha256 } from './p4Baseline.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const sources = mkdtempSync(join(repoRoot, '.p4-baseline-'));
try {
  execFileSync('sh', ['-c', `git archive ${P4_BASELINE.commit} | tar -x -C "${sources}"`], { cwd: repoRoot });
  const synthOut = join(sources, 'cdk.out');
  const stdout = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(sources, 'bench', 'synthWorkerBundle.ts'), synthOut],
    {
      cwd: sources,
      env: { ...process.env, PATH: `${join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` },
      maxBuffer: 16 * 1024 * 1024,
    },
  ).toString();
  const { bundle } = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { bundle: string };
  const shipped = readFileSync(bundle);
  if (shipped.length !== P4_BASELINE.bytes || sha256(shipped) !== P4_BASELINE.sha256) {
    throw new Error(
      `80d7c5d's synth gave ${shipped.length} B, sha256 ${sha256(shipped)}; expected ${P4_BASELINE.bytes} B, ${P4_BASELINE.sha256}`,
    );
  }

  // 80d7c5d's lib/workerFunction.ts: NodejsFunction bundling { format: ESM, target: 'node24', mainFields,
  // minify, sourceMap, banner, externalModules: [] }, run in the project root.
  const apiOut = join(sources, 'api-build', 'index.mjs');
  const result = await build({
    absWorkingDir: sources,
    entryPoints: [join(sources, 'functions/kycert-worker/handler.ts')],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: true,
    banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
    outfile: apiOut,
    metafile: true,
    logLevel: 'error',
  });
  if (!readFileSync(apiOut).equals(shipped)) {
    throw new Error("esbuild's API with 80d7c5d's options did not reproduce its synthesized bundle");
  }

  const map = readFileSync(`${bundle}.map`);
  const brotli = (bytes: Buffer) =>
    brotliCompressSync(bytes, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: 24 },
    });
  mkdirSync(P4_BASELINE_DIR, { recursive: true });
  writeFileSync(join(P4_BASELINE_DIR, 'index.mjs.br'), brotli(shipped));
  writeFileSync(join(P4_BASELINE_DIR, 'index.mjs.map.br'), brotli(map));
  const composition = bundleComposition(result.metafile);
  writeFileSync(
    join(P4_BASELINE_DIR, 'composition.json'),
    `${JSON.stringify(
      {
        commit: P4_BASELINE.commit,
        bytes: shipped.length,
        sha256: P4_BASELINE.sha256,
        sourceMapBytes: map.length,
        composition: composition.bySource,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(
    `80d7c5d's worker bundle: ${shipped.length} B (sha256 ${P4_BASELINE.sha256}), source map ${map.length} B; fixture written to ${P4_BASELINE_DIR}\n`,
  );
} finally {
  rmSync(sources, { recursive: true, force: true });
}
