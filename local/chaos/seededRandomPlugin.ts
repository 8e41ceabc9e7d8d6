import type { WorkerPluginFactory } from '../lambda/WorkerPlugin.js';
import { seededRandom } from '../sandbox/index.js';

/**
 * The worker's jitter drawn from a seeded generator, so a chaos run's retry delays repeat with its seed as far
 * as concurrency allows. Each environment gets its own stream (seed + its id), as each Lambda environment
 * has its own `Math.random`.
 */
const seededRandomPlugin: WorkerPluginFactory<{ seed: number }> = ({ seed }, { environmentId }) => ({
  wrapDeps(deps) {
    deps.random = seededRandom(seed + environmentId);
    return deps;
  },
});
export default seededRandomPlugin;
