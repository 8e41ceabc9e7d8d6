import { build } from 'esbuild';

const cache = new Map<string, Promise<string[]>>();

/**
 * The packages (bare specifiers, `node:` builtins left out) that the modules at `roots` import at run time,
 * directly or through their own relative imports; type-only imports do not count. An execution environment
 * loads these before tsx is registered (executionEnvironmentBoot.mjs): they are plain JavaScript, and going
 * through tsx's hooks doubles what a cold start costs. Performance only: a package missing here still loads,
 * through tsx.
 */
export function packagesImportedBy(roots: readonly string[]): Promise<string[]> {
  const key = JSON.stringify([...roots].sort());
  let packages = cache.get(key);
  if (packages === undefined) {
    packages = build({
      entryPoints: [...roots],
      bundle: true,
      write: false,
      metafile: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      outdir: 'unused',
      logLevel: 'silent',
    }).then(({ metafile }) => {
      const found = new Set<string>();
      for (const input of Object.values(metafile.inputs)) {
        for (const imported of input.imports) {
          if (imported.external && !imported.path.startsWith('node:')) found.add(imported.path);
        }
      }
      return [...found].sort();
    });
    cache.set(key, packages);
  }
  return packages;
}
