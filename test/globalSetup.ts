import { buildWorkerBundle } from '../scripts/buildWorkerBundle.js';

/**
 * The construct deploys the pre-built worker bundle (dist/worker), which a fresh clone has not built yet:
 * build it once for the whole run, with the options the package ships it with.
 */
export default async function setup(): Promise<void> {
  await buildWorkerBundle();
}
