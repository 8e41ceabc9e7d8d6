import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from '@jridgewell/sourcemap-codec';
import { describe, expect, it } from 'vitest';
import { stackTraceMapped } from '../bench/p4ColdStart.js';
import {
  buildWorkerBundle,
  ownSourcesOnly,
  WORKER_BUNDLE_DIR,
  WORKER_BUNDLE_FILE,
} from '../scripts/buildWorkerBundle.js';

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

  it('ships a source map of our own sources only, without their text', () => {
    const map = JSON.parse(readFileSync(`${bundle}.map`, 'utf8')) as {
      sources: string[];
      sourcesContent?: unknown;
    };
    expect(map.sources).toContain('../../functions/kycert-worker/config.ts');
    expect(map.sources.filter((source) => !source.startsWith('../../functions/'))).toEqual([]);
    expect(map.sourcesContent).toBeUndefined();
  });

  it('loads the SQS and EventBridge clients on first use, undici from a chunk without a map, each module in one file only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kycert-queue-worker-bundle-test-'));
    try {
      const { metafile, files } = await buildWorkerBundle(dir);
      // What a cold start loads: index.mjs and the chunks it imports statically, transitively.
      const atInit = new Set<string>();
      const load = (output: string) => {
        if (atInit.has(output)) return;
        atInit.add(output);
        for (const { path, kind } of metafile.outputs[output]?.imports ?? []) {
          if (kind === 'import-statement' && metafile.outputs[path] !== undefined) load(path);
        }
      };
      const entry = Object.keys(metafile.outputs).find((output) => output.endsWith('/index.mjs')) ?? '';
      load(entry);
      const inputsOf = (outputs: string[]) =>
        outputs.flatMap((output) => Object.keys(metafile.outputs[output]?.inputs ?? {}));
      const initInputs = inputsOf([...atInit]);
      expect(initInputs.filter((input) => /@aws-sdk\/client-(sqs|eventbridge)\//.test(input))).toEqual([]);
      expect(initInputs.some((input) => input.includes('@aws-sdk/client-dynamodb/'))).toBe(true);
      const everyInput = inputsOf(Object.keys(metafile.outputs).filter((output) => output.endsWith('.mjs')));
      expect(everyInput.some((input) => input.includes('@aws-sdk/client-sqs/'))).toBe(true);
      // The Smithy core and the rest: never in two chunks.
      expect(everyInput.filter((input, index) => everyInput.indexOf(input) !== index)).toEqual([]);
      // index.mjs alone holds our code and a map; the chunks, all dependencies, ship without one (and undici
      // is one of them: the second entry point's output is gone, nothing imports it).
      expect(files.filter((name) => name.endsWith('.map'))).toEqual(['index.mjs.map']);
      for (const file of files.filter((name) => name.endsWith('.mjs') && name !== 'index.mjs')) {
        const code = readFileSync(join(dir, file), 'utf8');
        expect(code).not.toContain('sourceMappingURL');
        expect(code).not.toContain('undici-entry');
      }
      expect(files.some((name) => name.startsWith('undici-entry'))).toBe(false);
      const undiciOutputs = Object.keys(metafile.outputs).filter((output) =>
        Object.keys(metafile.outputs[output]?.inputs ?? {}).some((input) => input.includes('/undici/')),
      );
      expect(undiciOutputs).toHaveLength(1);
      expect(undiciOutputs[0]).not.toMatch(/index\.mjs$/);
      expect(atInit.has(undiciOutputs[0] ?? '')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("bundles undici's llhttp parsers and not its experimental Milo ones", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kycert-queue-worker-bundle-test-'));
    try {
      const { metafile } = await buildWorkerBundle(dir);
      const inputs = Object.keys(metafile.inputs);
      expect(inputs.filter((input) => input.includes('undici/lib/milo/'))).toEqual([]);
      expect(
        inputs.filter((input) => /undici\/lib\/llhttp\/llhttp(_simd)?-wasm\.js$/.test(input)),
      ).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ownSourcesOnly', () => {
  it('keeps the mappings into our sources, renumbering sources and names, and drops the rest', () => {
    // Prepare: one generated line; segments [column, source, line, column, name?] into a dependency and ours.
    const map = {
      version: 3 as const,
      sources: ['../../node_modules/undici/index.js', '../../functions/kycert-worker/handler.ts'],
      names: ['request', 'handler'],
      // [0,0,0,0,0] [10,1,5,2,1] [20,0,1,0] [30] — encoded by @jridgewell/sourcemap-codec
      mappings: 'AAAAA,UCKEC,UDJF,U',
    };
    // Act
    const own = ownSourcesOnly(map);
    // Assess
    expect(own.sources).toEqual(['../../functions/kycert-worker/handler.ts']);
    expect(own.names).toEqual(['handler']);
    expect(decode(own.mappings)).toEqual([[[10, 0, 5, 2, 0]]]);
  });
});
