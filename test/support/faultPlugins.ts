import { type WorkerPluginSpec, workerPlugin } from '../../local/lambda/WorkerPlugin.js';

/** The fault suite's worker plugins (test/support/plugins), by module name. */
interface FaultPlugins {
  countClaims: typeof import('./plugins/countClaims.js').default;
  crashHandler: typeof import('./plugins/crashHandler.js').default;
  failDeadLetterSend: typeof import('./plugins/failDeadLetterSend.js').default;
  failVisibility: typeof import('./plugins/failVisibility.js').default;
  fileApiKey: typeof import('./plugins/fileApiKey.js').default;
  keyWindowClock: typeof import('./plugins/keyWindowClock.js').default;
  lambdaTimeouts: typeof import('./plugins/lambdaTimeouts.js').default;
  throttleOutcomeStore: typeof import('./plugins/throttleOutcomeStore.js').default;
}

/** The spec of the fault plugin `name`, its options checked against its factory. */
export function faultPlugin<Name extends keyof FaultPlugins>(
  name: Name,
  options: Parameters<FaultPlugins[Name]>[0],
): WorkerPluginSpec {
  return workerPlugin<FaultPlugins[Name]>(new URL(`./plugins/${name}.ts`, import.meta.url), options);
}
