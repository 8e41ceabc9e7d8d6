/**
 * One Lambda execution environment: the runtime of a process the pipeline forks for each environment
 * (executionEnvironmentBoot.mjs registers tsx, then imports this). It plays Lambda's runtime: loads the handler module once (init), then runs one invocation at
 * a time as the pipeline hands them over, building each `Context` from the invocation's request id and
 * deadline and from this environment's own variables (AWS_LAMBDA_FUNCTION_NAME…), as Lambda's runtime
 * interface client does. Its configuration is its own process environment, set by the pipeline at fork.
 * See executionEnvironmentProtocol.ts for the messages.
 */

import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { lambdaContext } from '../aws/createLambdaContext.js';
import {
  type FromEnvironment,
  type PluginRequest,
  serializeError,
  type ToEnvironment,
} from './executionEnvironmentProtocol.js';
import type {
  EnvironmentHandler,
  JsonValue,
  WorkerPlugin,
  WorkerPluginContext,
  WorkerPluginFactory,
} from './WorkerPlugin.js';

type InitMessage = Extract<ToEnvironment, { type: 'init' }>;
type InvokeMessage = Extract<ToEnvironment, { type: 'invoke' }>;

const send = (message: FromEnvironment): void => {
  if (process.connected) process.send?.(message);
};
// The pipeline went away (stopped, or its process died): an environment never outlives it. A send that
// raced the disconnect fails with EPIPE; the disconnect ends the process just after.
process.on('disconnect', () => process.exit(0));
process.on('error', () => undefined);

let clockOffsetMs = 0;
let nextRequestId = 0;
const pendingRequests = new Map<number, (value: JsonValue) => void>();
const request = (body: PluginRequest): Promise<JsonValue> =>
  new Promise((resolve) => {
    const requestId = nextRequestId++;
    pendingRequests.set(requestId, resolve);
    send({ type: 'request', requestId, request: body });
  });

let handler: EnvironmentHandler | undefined;
let busy = false;
let invocations = 0;

process.on('message', (message: ToEnvironment) => {
  switch (message.type) {
    case 'init':
      void init(message);
      return;
    case 'invoke':
      void invoke(message);
      return;
    case 'clock':
      clockOffsetMs = message.offsetMs;
      return;
    case 'reply':
      pendingRequests.get(message.requestId)?.(message.value);
      pendingRequests.delete(message.requestId);
      return;
  }
});

async function init(message: InitMessage): Promise<void> {
  clockOffsetMs = message.clockOffsetMs;
  try {
    const plugins: WorkerPlugin[] = [];
    for (const spec of message.plugins) {
      const context: WorkerPluginContext = {
        environmentId: message.environmentId,
        report: (data) => send({ type: 'pluginEvent', plugin: basename(spec.module), data }),
        count: async (name) => Number(await request({ kind: 'count', name })),
        clock: {
          now: () => Date.now() + clockOffsetMs,
          advance: async (ms) => {
            await request({ kind: 'advanceClock', ms });
          },
        },
      };
      const factory = (await import(pathToFileURL(spec.module).href)).default as WorkerPluginFactory;
      if (typeof factory !== 'function') {
        throw new TypeError(`worker plugin ${spec.module} has no default export of a plugin factory`);
      }
      plugins.push(await factory(spec.options, context));
    }
    let loaded = await loadHandler(message, plugins);
    for (const plugin of plugins) loaded = plugin.wrapHandler?.(loaded) ?? loaded;
    handler = loaded;
    // Since the process started (performance's time origin): the whole cold start, boot included.
    send({ type: 'ready', initDurationMs: performance.now() });
  } catch (error) {
    send({ type: 'initFailed', error: serializeError(error) });
  }
}

/**
 * The module's Lambda export, as deployed; or, when a plugin changes the worker's dependencies, its
 * `createHandler` fed with `createWorkerDeps(loadConfig())` (exactly what the `handler` export builds, lazily
 * at the first invocation) passed through the plugins.
 */
async function loadHandler(
  message: InitMessage,
  plugins: readonly WorkerPlugin[],
): Promise<EnvironmentHandler> {
  const module = (await import(pathToFileURL(message.handler.module).href)) as Record<string, unknown>;
  const depsPlugins = plugins.filter((plugin) => plugin.wrapDeps !== undefined);
  if (depsPlugins.length === 0) {
    const exported = module[message.handler.export];
    if (typeof exported !== 'function') {
      throw new TypeError(`${message.handler.module} exports no function ${message.handler.export}`);
    }
    return exported as EnvironmentHandler;
  }
  const createHandler = module.createHandler;
  if (typeof createHandler !== 'function') {
    throw new TypeError(
      `a worker plugin wraps the worker's dependencies, but ${message.handler.module} exports no createHandler`,
    );
  }
  const { createWorkerDeps } = await import('../../functions/kycert-worker/createWorkerDeps.js');
  const { loadConfig } = await import('../../functions/kycert-worker/config.js');
  type Deps = ReturnType<typeof createWorkerDeps>;
  let deps: Deps | undefined;
  return (createHandler as (getDeps: () => Deps) => EnvironmentHandler)(() => {
    deps ??= depsPlugins.reduce(
      (wrapped, plugin) => plugin.wrapDeps?.(wrapped) ?? wrapped,
      createWorkerDeps(loadConfig()),
    );
    return deps;
  });
}

async function invoke(message: InvokeMessage): Promise<void> {
  const { invocationId } = message;
  if (handler === undefined || busy) {
    // The pipeline hands an environment one invocation at a time, and only once it is ready.
    send({
      type: 'result',
      invocationId,
      coldStart: false,
      durationMs: 0,
      outcome: {
        kind: 'threw',
        error: serializeError(new Error(busy ? 'environment busy' : 'environment not initialised')),
      },
    });
    return;
  }
  busy = true;
  clockOffsetMs = message.clockOffsetMs;
  const coldStart = invocations === 0;
  invocations++;
  const env = process.env;
  const context = lambdaContext({
    ...message.context,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME ?? 'function',
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION ?? '$LATEST',
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '128',
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME ?? '',
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME ?? '',
  });
  const startedAtMs = performance.now();
  let outcome: Extract<FromEnvironment, { type: 'result' }>['outcome'];
  try {
    // Lambda serialises the response as JSON; a response that cannot be is the function's error.
    const response = await handler(message.event, context);
    outcome = {
      kind: 'returned',
      response: response === undefined ? null : JSON.parse(JSON.stringify(response)),
    };
  } catch (error) {
    outcome = { kind: 'threw', error: serializeError(error) };
  }
  const durationMs = performance.now() - startedAtMs;
  busy = false;
  send({ type: 'result', invocationId, coldStart, durationMs, outcome });
}
