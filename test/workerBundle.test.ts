import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stackTraceMapped } from '../bench/p4ColdStart.js';
import { WORKER_BUNDLE_DIR, WORKER_BUNDLE_FILE } from '../scripts/buildWorkerBundle.js';

// The bundle the package ships (dist/worker, built by the global setup with the shipped options).
const bundle = join(WORKER_BUNDLE_DIR, WORKER_BUNDLE_FILE);

describe('worker bundle', () => {
  it('starts with source maps on, as deployed, and its stack traces name the TypeScript sources', async () => {
    expect(await stackTraceMapped(bundle, '--enable-source-maps')).toBe(true);
  });

  it('names the TypeScript sources only through its source map', async () => {
    // Control for the test above: without --enable-source-maps the same error points into index.mjs.
    expect(await stackTraceMapped(bundle, '')).toBe(false);
  });

  it('ships a source map without the sources themselves, and without the Milo parser undici does not use', () => {
    const map = JSON.parse(readFileSync(`${bundle}.map`, 'utf8')) as {
      sources: string[];
      sourcesContent?: unknown;
    };
    expect(map.sources).toContain('../../functions/kycert-worker/config.ts');
    expect(map.sourcesContent).toBeUndefined();
    expect(map.sources.some((source) => source.includes('undici/lib/milo/'))).toBe(false);
    expect(map.sources.some((source) => source.includes('undici/lib/llhttp/llhttp_simd-wasm.js'))).toBe(true);
  });
});
