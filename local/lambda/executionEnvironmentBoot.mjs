/**
 * The first module of an execution environment's process. It loads the packages the handler and plugins
 * import as plain JavaScript, with Node's compile cache (shared by every environment), then registers tsx and
 * imports the runtime (executionEnvironmentMain.ts), which loads the handler module through tsx. The packages
 * are then already in the module cache, so tsx's hooks only see our own TypeScript: a cold start costs about
 * 40 % less CPU, which matters when the fault suite starts dozens of environments at once.
 *
 * argv[2]: JSON { "compileCacheDir": string | null, "preload": string[] }.
 */
import { enableCompileCache } from 'node:module';

// Until the runtime takes over: an environment whose pipeline went away never outlives it.
const exitOnDisconnect = () => process.exit(0);
process.once('disconnect', exitOnDisconnect);
// Ctrl-C in a terminal is for `npm start`, which stops its environments in order (an environment ends when
// its pipeline does); Lambda's environments never see the user's terminal either.
process.on('SIGINT', () => undefined);
const { compileCacheDir, preload } = JSON.parse(process.argv[2] ?? '{}');
if (typeof compileCacheDir === 'string') enableCompileCache(compileCacheDir);
for (const specifier of preload ?? []) {
  try {
    await import(specifier);
  } catch {
    // Performance only: whatever fails here fails again, with its real error, where the handler imports it.
  }
}
const { register } = await import('tsx/esm/api');
register();
await import('./executionEnvironmentMain.ts');
process.off('disconnect', exitOnDisconnect);
