import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Lambda functions whose code the package ships pre-built (scripts/buildWorkerBundle.ts builds them). */
export type BundleName = 'worker' | 'api-key-age-check' | 'kycert-webhook';

/**
 * A function's code as the package ships it: `dist/<name>/index.mjs`, the chunks it loads, their source maps. This module runs as
 * lib/bundleDir.ts in this repository and as dist/lib/bundleDir.js from the installed package: the package
 * root is the nearest directory with a package.json either way.
 */
export function bundleDir(name: BundleName): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(`kycert-queue: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  const bundle = join(dir, 'dist', name);
  if (!existsSync(join(bundle, 'index.mjs'))) {
    throw new Error(
      `kycert-queue: the ${name} bundle ${join(bundle, 'index.mjs')} is missing; in the kycert-queue ` +
        'repository, build it with `npm run build:worker` (an installed package ships it built)',
    );
  }
  return bundle;
}
