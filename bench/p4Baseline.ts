/**
 * P4's baseline: the worker bundle of commit 80d7c5d ("today's" in issue 14), exactly as that commit's stack
 * shipped it, kept as a fixture so that every run measures the same bytes beside the new bundle. Rebuilding it
 * at bench time from the commit's sources would follow whatever node_modules holds then: the first dependency
 * upgrade would change the baseline without a word. `bench/buildP4Baseline.ts` made the fixture from the
 * commit (its own `cdk synth`) and checks it against the digest below.
 *
 * Brotli-compressed (1.31 MB for the 7.5 MB of code and source map), unpacked per run into a temporary directory.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync } from 'node:zlib';
import type { BundleComposition } from './bundleComposition.js';

export const P4_BASELINE = {
  commit: '80d7c5d6798de543e3c637261cd22e753d088ec0',
  /** `index.mjs` as 80d7c5d's NodejsFunction built it (issue 14 quotes the same size). */
  bytes: 1_638_489,
  sha256: '5fa56203d769f98d9315d17d142463f4a3827cc93fdc0478bc884df766ade581',
} as const;

export const P4_BASELINE_DIR = fileURLToPath(new URL('./fixtures/worker-bundle-80d7c5d/', import.meta.url));

export interface BaselineFixture {
  /** Where `index.mjs` and `index.mjs.map` were unpacked. */
  path: string;
  bytes: number;
  sourceMapBytes: number;
  composition: BundleComposition[];
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Unpacks the fixture into `dir` and checks that the code is 80d7c5d's to the byte. */
export function unpackP4Baseline(dir: string): BaselineFixture {
  const code = brotliDecompressSync(readFileSync(join(P4_BASELINE_DIR, 'index.mjs.br')));
  const map = brotliDecompressSync(readFileSync(join(P4_BASELINE_DIR, 'index.mjs.map.br')));
  if (code.length !== P4_BASELINE.bytes || sha256(code) !== P4_BASELINE.sha256) {
    throw new Error(
      `bench/fixtures/worker-bundle-80d7c5d/index.mjs.br is not 80d7c5d's bundle (${code.length} B, sha256 ${sha256(code)})`,
    );
  }
  const path = join(dir, 'index.mjs');
  writeFileSync(path, code);
  writeFileSync(`${path}.map`, map);
  const { composition } = JSON.parse(readFileSync(join(P4_BASELINE_DIR, 'composition.json'), 'utf8')) as {
    composition: BundleComposition[];
  };
  return { path, bytes: code.length, sourceMapBytes: map.length, composition };
}
