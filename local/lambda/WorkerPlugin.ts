import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, SQSEvent } from 'aws-lambda';
import type { WorkerDeps } from '../../functions/kycert-worker/processRecord.js';

/**
 * Worker plugins: how a test, the chaos runner or the bench changes the worker inside its execution
 * environments (which are separate processes, so a closure cannot reach them). A plugin is a module whose
 * default export is a `WorkerPluginFactory`, named by path with JSON options; every environment imports it
 * at init, calls the factory once, and applies what it returns. It can report events back to the pipeline and
 * share counters and a clock with the other environments, both kept by the pipeline's process.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A Lambda handler as the environment calls it. */
export type EnvironmentHandler = (event: SQSEvent, context: Context) => Promise<unknown>;

export interface WorkerPlugin {
  /**
   * Changes the worker's dependencies once, when the environment builds them (before its first invocation).
   * Wrap methods in place (wrapMethod.ts) rather than naming every field, so a plugin outlives
   * changes to `WorkerDeps`.
   */
  wrapDeps?(deps: WorkerDeps): WorkerDeps;
  /** Wraps the handler, e.g. to crash in the middle of a batch. */
  wrapHandler?(handler: EnvironmentHandler): EnvironmentHandler;
}

/** What a plugin can do beyond its own environment. */
export interface WorkerPluginContext {
  /** This environment's number in its pipeline: 0… for the first ones, higher for replacements. */
  readonly environmentId: number;
  /** Sends `data` to the pipeline's `onEnvironmentEvent` as a `pluginEvent`. */
  report(data: JsonValue): void;
  /** Adds one to the counter `name`, shared by every environment of the pipeline; resolves with its new value. */
  count(name: string): Promise<number>;
  /** The pipeline's JumpingClock, when it has one: `now()` here, `advance()` for every environment and the sandbox. */
  readonly clock: { now(): number; advance(ms: number): Promise<void> };
}

export type WorkerPluginFactory<Options extends JsonValue = JsonValue> = (
  options: Options,
  context: WorkerPluginContext,
) => WorkerPlugin | Promise<WorkerPlugin>;

/** A plugin as the pipeline is given it: which module, with which options. */
export interface WorkerPluginSpec {
  /** Absolute path of the module. */
  readonly module: string;
  readonly options: JsonValue;
}

/**
 * The spec of the plugin module at `module` (an absolute path or a file URL, e.g.
 * `new URL('./plugins/crash.ts', import.meta.url)`), its options checked against the factory's type:
 * `workerPlugin<typeof import('./plugins/crash.js').default>(url, { … })`.
 */
export function workerPlugin<Factory extends WorkerPluginFactory<never>>(
  module: URL | string,
  options: Parameters<Factory>[0],
): WorkerPluginSpec {
  const path = module instanceof URL || module.startsWith('file:') ? fileURLToPath(module) : module;
  if (!isAbsolute(path)) throw new TypeError(`a worker plugin is named by an absolute path, got ${path}`);
  return { module: path, options: options as JsonValue };
}
