import type { WorkerPluginFactory } from '../../../local/lambda/WorkerPlugin.js';

export const CRASHES = ['before', 'halfway', 'after', 'exit'] as const;
export type Crash = (typeof CRASHES)[number];
/** `n`: which invocation of the pipeline it was, counted across every environment. */
export type CrashEvent = { crash: Crash; n: number };

/**
 * The first invocations crash, one way each, wherever they run: the handler throws before the batch,
 * half-way through it and after it; then the process itself dies half-way through a batch (`exit`, as an
 * out-of-memory kill would), and its environment is replaced.
 */
const crashHandler: WorkerPluginFactory<null> = (_options, { count, report }) => ({
  wrapHandler: (handler) => async (event, context) => {
    const n = await count('invocation');
    const crash = CRASHES[n - 1];
    if (crash === undefined) return handler(event, context);
    report({ crash, n } satisfies CrashEvent);
    const firstHalf = { Records: event.Records.slice(0, Math.ceil(event.Records.length / 2)) };
    if (crash === 'halfway' || crash === 'exit') await handler(firstHalf, context);
    if (crash === 'after') await handler(event, context);
    if (crash === 'exit') process.exit(70);
    throw new Error(`injected crash ${crash} the batch`);
  },
});
export default crashHandler;
