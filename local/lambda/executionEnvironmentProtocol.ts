import type { SQSEvent } from 'aws-lambda';
import type { LambdaContextFields } from '../aws/createLambdaContext.js';
import type { JsonValue, WorkerPluginSpec } from './WorkerPlugin.js';

/**
 * The IPC messages between the pipeline's process and an execution environment (Node's `fork` channel, JSON
 * serialisation, as Lambda's runtime API speaks JSON). One environment, one invocation at a time:
 *
 *   parent                         environment
 *   ── init ──────────────────────▶  imports the handler module and the plugins
 *   ◀───────────────── ready / initFailed
 *   ── invoke ────────────────────▶  runs the handler
 *   ◀──── pluginEvent, request ────  (any number, while it runs)
 *   ── reply ─────────────────────▶
 *   ◀───────────────────── result
 *   ── clock ─────────────────────▶  (whenever the shared clock jumps)
 *
 * A timeout is the parent's: it kills the process (SIGKILL), as Lambda restarts the runtime, and starts a
 * fresh one. A process that exits on its own fails the invocation it was running and is replaced alike.
 */

/** Which export of which module is the handler (Lambda's `_HANDLER`). */
export interface HandlerLocation {
  /** Absolute path of the module, loaded through tsx. */
  readonly module: string;
  /** @default 'handler' */
  readonly export: string;
}

/** What Lambda's runtime API gives per invocation; the rest of the context is the environment's own. */
export type InvokeContext = Pick<LambdaContextFields, 'awsRequestId' | 'invokedFunctionArn' | 'deadlineMs'>;

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
}

export type ToEnvironment =
  | {
      readonly type: 'init';
      readonly environmentId: number;
      readonly handler: HandlerLocation;
      readonly plugins: readonly WorkerPluginSpec[];
      readonly clockOffsetMs: number;
    }
  | {
      readonly type: 'invoke';
      readonly invocationId: number;
      readonly event: SQSEvent;
      readonly context: InvokeContext;
      /** The shared clock as it stands when the batch is handed over. */
      readonly clockOffsetMs: number;
    }
  | { readonly type: 'clock'; readonly offsetMs: number }
  | { readonly type: 'reply'; readonly requestId: number; readonly value: JsonValue };

export type PluginRequest =
  | { readonly kind: 'count'; readonly name: string }
  | { readonly kind: 'advanceClock'; readonly ms: number };

export type FromEnvironment =
  | { readonly type: 'ready'; readonly initDurationMs: number }
  | { readonly type: 'initFailed'; readonly error: SerializedError }
  | {
      readonly type: 'result';
      readonly invocationId: number;
      readonly coldStart: boolean;
      readonly durationMs: number;
      readonly outcome:
        | { readonly kind: 'returned'; readonly response: unknown }
        | { readonly kind: 'threw'; readonly error: SerializedError };
    }
  | { readonly type: 'pluginEvent'; readonly plugin: string; readonly data: JsonValue }
  | { readonly type: 'request'; readonly requestId: number; readonly request: PluginRequest };

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'Error', message: `a non-Error was thrown: ${String(error)}` };
}
