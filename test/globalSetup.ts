import { buildFunctionBundles } from '../scripts/buildWorkerBundle.js';

/**
 * The constructs deploy the pre-built bundles (dist/worker, dist/api-key-age-check, dist/kycert-webhook), which a fresh clone has not
 * built yet: build them once for the whole run, with the options the package ships them with.
 */
export default async function setup(): Promise<void> {
  await buildFunctionBundles();
}
