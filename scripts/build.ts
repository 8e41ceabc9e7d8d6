/**
 * `npm run build` (and `prepack`): the package's dist/.
 * - dist/lib, dist/producer (and the few modules of functions/ they import): tsc's JavaScript and
 *   declarations of the two importable entry points (tsconfig.build.json);
 * - dist/tools/cli.js: the `kycert-queue` bin, one ESM file of our code, its npm dependencies left to
 *   `dependencies` (so the CLI runs on plain Node, no tsx, and the tarball holds no unused modules);
 * - dist/worker, dist/api-key-age-check, dist/kycert-webhook: the Lambda bundles (scripts/buildWorkerBundle.ts, where their
 *   options live).
 * Outputs of an earlier build are removed first, so the tarball never carries a module that no longer
 * exists; dist/worker is replaced file by file (atomically) instead, because a synth may be reading it.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import {
  API_KEY_AGE_CHECK_BUNDLE_DIR,
  buildFunctionBundles,
  WEBHOOK_RECEIVER_BUNDLE_DIR,
  WORKER_BUNDLE_DIR,
} from './buildWorkerBundle.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const distDir = join(repoRoot, 'dist');
/** The `bin` of package.json. */
export const CLI_FILE = join(distDir, 'tools', 'cli.js');

export async function buildPackage(): Promise<void> {
  for (const entry of readdirOrEmpty(distDir)) {
    if (
      ![WORKER_BUNDLE_DIR, API_KEY_AGE_CHECK_BUNDLE_DIR, WEBHOOK_RECEIVER_BUNDLE_DIR].includes(
        join(distDir, entry),
      )
    ) {
      rmSync(join(distDir, entry), { recursive: true, force: true });
    }
  }
  execFileSync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', join(repoRoot, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
  await build({
    absWorkingDir: repoRoot,
    entryPoints: [join(repoRoot, 'tools', 'cli.ts')],
    outfile: CLI_FILE,
    bundle: true,
    packages: 'external',
    platform: 'node',
    // The package's `engines`: Node.js 22.12 or later.
    target: 'node22.12',
    format: 'esm',
    logLevel: 'warning',
  });
  chmodSync(CLI_FILE, 0o755);
  await buildFunctionBundles();
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const startedMs = Date.now();
  await buildPackage();
  // stderr: `npm pack --json` prints its JSON on stdout, after the prepack build.
  console.error(`built dist/ in ${Date.now() - startedMs} ms`);
}
