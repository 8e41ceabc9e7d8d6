import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, SQSEvent } from 'aws-lambda';
import { ExecutionEnvironmentError, FunctionError } from '../aws/errors.js';
import type { FunctionInvoker, InvocationResult, ReservedEnvironment } from '../aws/FunctionInvoker.js';
import type {
  FromEnvironment,
  HandlerLocation,
  PluginRequest,
  SerializedError,
  ToEnvironment,
} from './executionEnvironmentProtocol.js';
import { JumpingClock } from './JumpingClock.js';
import { packagesImportedBy } from './packagesImportedBy.js';
import type { JsonValue, WorkerPluginSpec } from './WorkerPlugin.js';

/** The worker's Lambda entry point, as the stack deploys it. */
export const WORKER_HANDLER: HandlerLocation = {
  module: fileURLToPath(new URL('../../functions/kycert-worker/handler.ts', import.meta.url)),
  export: 'handler',
};

export interface ExecutionEnvironmentsOptions {
  /** Environments kept running, each a process of its own, 1–64. */
  readonly count: number;
  /**
   * The function's configuration: each environment's process environment, besides the variables Lambda
   * itself defines (AWS_LAMBDA_FUNCTION_NAME…) and PATH. Nothing is inherited from this process.
   */
  readonly env: Readonly<Record<string, string>>;
  readonly region: string;
  /** @default 'kycert-worker' */
  readonly functionName?: string;
  /** Reported as the function's memory (context and AWS_LAMBDA_FUNCTION_MEMORY_SIZE). @default 128 MB */
  readonly memorySizeMb?: number;
  /** @default WORKER_HANDLER */
  readonly handler?: HandlerLocation;
  /** Imported by every environment at init, in this order. @default none */
  readonly plugins?: readonly WorkerPluginSpec[];
  /** The clock plugins share; a jump is sent to every environment. @default a clock of its own */
  readonly clock?: JumpingClock;
  /** Where the environments' stdout (the worker's logs and metrics) goes; stderr is always inherited. @default 'inherit' */
  readonly output?: 'inherit' | 'ignore';
  /**
   * The environments' CPU niceness, 0–19. Above 0 the pipeline's process (emulators, sandbox, poller: AWS's
   * and kycert's side, which has capacity of its own in AWS) is served first when the machine is short of
   * CPU, so the functions wait on their own work rather than on their calls being answered. @default 0
   */
  readonly niceness?: number;
  /** An environment still in its init after this long counts as failed to start. @default 60 000 ms */
  readonly initTimeoutMs?: number;
  /** Called synchronously for every event; a listener that throws is reported and ignored. */
  readonly onEvent?: (event: ExecutionEnvironmentEvent) => void;
}

export type ExecutionEnvironmentEvent =
  | {
      readonly type: 'environmentStarted';
      readonly environmentId: number;
      readonly pid: number;
      readonly initDurationMs: number;
    }
  | {
      readonly type: 'environmentStopped';
      readonly environmentId: number;
      readonly pid: number;
      /** `timeout`: killed at the function timeout; `exited`: its process ended on its own; `stopped`: by stop(). */
      readonly reason: 'timeout' | 'exited' | 'stopped';
    }
  /** A replacement could not start; another is tried a second later. */
  | { readonly type: 'environmentFailedToStart'; readonly environmentId: number; readonly error: Error }
  | {
      readonly type: 'pluginEvent';
      readonly environmentId: number;
      /** The plugin module's file name. */
      readonly plugin: string;
      readonly data: JsonValue;
    };

export interface ExecutionEnvironmentStats {
  readonly started: number;
  readonly killedOnTimeout: number;
  readonly exited: number;
  readonly failedToStart: number;
  /** Running now, busy or not, replacements still in their init included. */
  readonly live: number;
}

export interface ExecutionEnvironments extends FunctionInvoker {
  readonly count: number;
  /** The counters plugins share (`count(name)`), as they stand. */
  counters(): Readonly<Record<string, number>>;
  stats(): ExecutionEnvironmentStats;
  /** Ends every environment (an invocation still running fails as `runtimeExited`). Safe to call twice. */
  stop(): Promise<void>;
}

const BOOT = fileURLToPath(new URL('./executionEnvironmentBoot.mjs', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Node's compile cache, shared by every environment of every pipeline on the machine. */
const COMPILE_CACHE_DIR = join(tmpdir(), 'kycert-queue-compile-cache');
const REPLACEMENT_RETRY_DELAY_MS = 1_000;
const STOP_GRACE_MS = 3_000;

interface Environment {
  readonly id: number;
  readonly child: ChildProcess;
  readonly pid: number;
  state: 'starting' | 'idle' | 'reserved' | 'invoking' | 'gone';
  invocationsStarted: number;
  running?: { readonly invocationId: number; settle(result: InvocationResult): void };
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
}

/**
 * Lambda's execution environments for one function, each a child process (through tsx) that loads the
 * handler module once and runs one invocation at a time; see executionEnvironmentProtocol.ts. Every
 * environment has finished its init (its cold start) when this resolves. An invocation past its timeout
 * kills its environment; one that exits, under an invocation or idle, is gone too; either is replaced at once
 * by a fresh process, which is free for invocations once its own init is over.
 */
export async function startExecutionEnvironments(
  options: ExecutionEnvironmentsOptions,
): Promise<ExecutionEnvironments> {
  if (!Number.isInteger(options.count) || options.count < 1 || options.count > 64) {
    throw new RangeError(`count must be a whole number of environments from 1 to 64, got ${options.count}`);
  }
  const functionName = options.functionName ?? 'kycert-worker';
  const memorySizeMb = options.memorySizeMb ?? 128;
  const handler = options.handler ?? WORKER_HANDLER;
  const plugins = options.plugins ?? [];
  const clock = options.clock ?? new JumpingClock();
  const initTimeoutMs = options.initTimeoutMs ?? 60_000;
  const niceness = options.niceness ?? 0;
  if (!Number.isInteger(niceness) || niceness < 0 || niceness > 19) {
    throw new RangeError(`niceness must be a whole number from 0 to 19, got ${niceness}`);
  }
  const bootArgument = JSON.stringify({
    compileCacheDir: COMPILE_CACHE_DIR,
    preload: await packagesImportedBy([handler.module, ...plugins.map((plugin) => plugin.module)]),
  });

  const live = new Set<Environment>();
  const waiting: Array<(environment: Environment | undefined) => void> = [];
  const counters = new Map<string, number>();
  const stats = { started: 0, killedOnTimeout: 0, exited: 0, failedToStart: 0 };
  let nextEnvironmentId = 0;
  let nextInvocationId = 0;
  let stopping = false;

  const emit = (event: ExecutionEnvironmentEvent): void => {
    try {
      options.onEvent?.(event);
    } catch (error) {
      console.error(`execution environments of ${functionName}: onEvent threw on ${event.type}`, error);
    }
  };
  const post = (environment: Environment, message: ToEnvironment): boolean => {
    if (!environment.child.connected) return false;
    try {
      environment.child.send(message);
      return true;
    } catch {
      return false;
    }
  };
  const stopClock = clock.onAdvance((offsetMs) => {
    for (const environment of live) post(environment, { type: 'clock', offsetMs });
  });

  /** Hands a free environment to the first loop waiting for one, or leaves it idle. */
  const free = (environment: Environment): void => {
    if (environment.state === 'gone') return;
    const next = waiting.shift();
    environment.state = next === undefined ? 'idle' : 'reserved';
    next?.(environment);
  };

  const answer = async (request: PluginRequest): Promise<JsonValue> => {
    switch (request.kind) {
      case 'count': {
        const value = (counters.get(request.name) ?? 0) + 1;
        counters.set(request.name, value);
        return value;
      }
      case 'advanceClock':
        clock.advance(request.ms);
        return clock.offsetMs;
    }
  };

  /** Takes an environment out of service; a replacement starts unless the pool is stopping. */
  const retire = (environment: Environment, reason: 'timeout' | 'exited'): void => {
    if (environment.state === 'gone') return;
    environment.state = 'gone';
    live.delete(environment);
    if (reason === 'timeout') {
      stats.killedOnTimeout++;
      environment.child.kill('SIGKILL');
    } else {
      stats.exited++;
    }
    emit({ type: 'environmentStopped', environmentId: environment.id, pid: environment.pid, reason });
    if (!stopping) void replace();
  };

  const replace = async (): Promise<void> => {
    try {
      free(await spawn());
    } catch (error) {
      if (stopping) return;
      stats.failedToStart++;
      emit({
        type: 'environmentFailedToStart',
        environmentId: nextEnvironmentId - 1,
        error: error as Error,
      });
      setTimeout(() => {
        if (!stopping) void replace();
      }, REPLACEMENT_RETRY_DELAY_MS).unref();
    }
  };

  const spawn = (): Promise<Environment> => {
    const id = nextEnvironmentId++;
    const child = fork(BOOT, [bootArgument], {
      cwd: REPO_ROOT,
      env: environmentVariables(),
      execArgv: [],
      stdio: ['ignore', options.output ?? 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
      // Not detached: a session of its own would also be a scheduling group of its own (Linux autogroups),
      // worth as much CPU as this whole process, emulators and all, and deaf to `niceness`. Ctrl-C is kept
      // from the environments by executionEnvironmentBoot.mjs instead.
    });
    if (child.pid !== undefined && niceness > 0) setPriority(child.pid, niceness);
    let exited = () => {};
    const environment: Environment = {
      id,
      child,
      pid: child.pid ?? -1,
      state: 'starting',
      invocationsStarted: 0,
      exited: new Promise((resolve) => {
        exited = resolve;
      }),
    };
    live.add(environment);
    let initialised = false;
    return new Promise((resolve, reject) => {
      const initFailed = (error: Error) => {
        clearTimeout(initTimer);
        environment.state = 'gone';
        live.delete(environment);
        child.kill('SIGKILL');
        reject(error);
      };
      const initTimer = setTimeout(
        () => initFailed(new ExecutionEnvironmentError(id, `still in its init after ${initTimeoutMs} ms`)),
        initTimeoutMs,
      );
      child.on('message', (message: FromEnvironment) => {
        switch (message.type) {
          case 'ready':
            clearTimeout(initTimer);
            if (environment.state !== 'starting') return;
            initialised = true;
            stats.started++;
            emit({
              type: 'environmentStarted',
              environmentId: id,
              pid: environment.pid,
              initDurationMs: message.initDurationMs,
            });
            resolve(environment);
            return;
          case 'initFailed':
            initFailed(
              new ExecutionEnvironmentError(id, `init failed: ${message.error.message}`, {
                cause: toError(message.error),
              }),
            );
            return;
          case 'result': {
            const running = environment.running;
            if (running?.invocationId !== message.invocationId) return;
            const where = {
              environment: { id, pid: environment.pid, coldStart: message.coldStart },
              functionDurationMs: message.durationMs,
            };
            running.settle(
              message.outcome.kind === 'returned'
                ? { kind: 'returned', response: message.outcome.response, ...where }
                : { kind: 'threw', error: toError(message.outcome.error), ...where },
            );
            free(environment);
            return;
          }
          case 'pluginEvent':
            emit({ type: 'pluginEvent', environmentId: id, plugin: message.plugin, data: message.data });
            return;
          case 'request':
            void answer(message.request).then((value) =>
              post(environment, { type: 'reply', requestId: message.requestId, value }),
            );
            return;
        }
      });
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        exited();
        if (environment.state === 'starting' && !initialised) {
          initFailed(
            new ExecutionEnvironmentError(
              id,
              `exited during its init (${signal === null ? `code ${code}` : `signal ${signal}`})`,
            ),
          );
          return;
        }
        const running = environment.running;
        if (running !== undefined) {
          running.settle({
            kind: 'runtimeExited',
            error: new ExecutionEnvironmentError(
              id,
              `Runtime.ExitError: the process exited (${signal === null ? `code ${code}` : `signal ${signal}`}) during the invocation`,
            ),
            environment: { id, pid: environment.pid, coldStart: environment.invocationsStarted === 1 },
          });
        }
        if (!stopping) retire(environment, 'exited');
      };
      child.once('exit', onExit);
      child.on('error', (error) => {
        // A process that could not be spawned emits no exit; a write to one that is exiting (EPIPE) is
        // followed by its exit, which is what counts.
        if (child.pid === undefined) {
          exited();
          initFailed(new ExecutionEnvironmentError(id, 'could not be started', { cause: error }));
        }
      });
      post(environment, {
        type: 'init',
        environmentId: id,
        handler,
        plugins,
        clockOffsetMs: clock.offsetMs,
      });
    });
  };

  const environmentVariables = (): Record<string, string> => {
    const today = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
    return {
      ...options.env,
      // What Lambda defines in every environment of a function; the log stream is the environment's own.
      AWS_LAMBDA_FUNCTION_NAME: functionName,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memorySizeMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${functionName}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `${today}/[$LATEST]${randomBytes(16).toString('hex')}`,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_REGION: options.region,
      AWS_DEFAULT_REGION: options.region,
      PATH: process.env.PATH ?? '',
      ...(process.env.TMPDIR === undefined ? {} : { TMPDIR: process.env.TMPDIR }),
    };
  };

  /** Runs one invocation in `environment`, reserved for it; settles on its result, its timeout or its exit. */
  const run = (
    environment: Environment,
    event: SQSEvent,
    context: Context,
    timeoutMs: number,
  ): Promise<InvocationResult> => {
    environment.state = 'invoking';
    environment.invocationsStarted++;
    const invocationId = nextInvocationId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        environment.running = undefined;
        // Lambda stops the runtime at the timeout; whatever the handler was doing is cut off with it.
        retire(environment, 'timeout');
        resolve({
          kind: 'timedOut',
          environment: {
            id: environment.id,
            pid: environment.pid,
            coldStart: environment.invocationsStarted === 1,
          },
        });
      }, timeoutMs);
      environment.running = {
        invocationId,
        settle: (result) => {
          clearTimeout(timer);
          environment.running = undefined;
          resolve(result);
        },
      };
      post(environment, {
        type: 'invoke',
        invocationId,
        event,
        context: {
          awsRequestId: context.awsRequestId,
          invokedFunctionArn: context.invokedFunctionArn,
          deadlineMs: Date.now() + context.getRemainingTimeInMillis(),
        },
        clockOffsetMs: clock.offsetMs,
      });
      // Not sent: the process is going (an environment exits once its channel closes); its exit settles
      // the invocation as runtimeExited.
    });
  };

  const reserveFor = (environment: Environment): ReservedEnvironment => {
    let used = false;
    return {
      async invoke(event, context, timeoutMs) {
        if (used) throw new Error('a reserved environment takes one invocation');
        used = true;
        let target: Environment | undefined = environment;
        // It died while its loop was polling: the batch goes to the next free one, as Lambda would send it.
        if (target.state === 'gone') target = await nextFree();
        if (target === undefined) {
          return {
            kind: 'runtimeExited',
            error: new ExecutionEnvironmentError(environment.id, 'the environments were stopped'),
          };
        }
        return run(target, event, context, timeoutMs);
      },
      release() {
        if (used) return;
        used = true;
        if (environment.state === 'reserved') free(environment);
      },
    };
  };

  const nextFree = (signal?: AbortSignal): Promise<Environment | undefined> => {
    if (stopping || signal?.aborted) return Promise.resolve(undefined);
    for (const environment of live) {
      if (environment.state === 'idle') {
        environment.state = 'reserved';
        return Promise.resolve(environment);
      }
    }
    return new Promise((resolve) => {
      const onAbort = () => {
        const index = waiting.indexOf(take);
        if (index >= 0) waiting.splice(index, 1);
        resolve(undefined);
      };
      const take = (environment: Environment | undefined) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(environment);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      waiting.push(take);
    });
  };

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      stopClock();
      for (const take of waiting.splice(0)) take(undefined);
      const all = [...live];
      await Promise.all(
        all.map(async (environment) => {
          const wasRunning = environment.running;
          environment.state = 'gone';
          live.delete(environment);
          if (environment.child.exitCode === null && environment.child.signalCode === null) {
            environment.child.kill('SIGTERM');
            const killTimer = setTimeout(() => environment.child.kill('SIGKILL'), STOP_GRACE_MS);
            await environment.exited;
            clearTimeout(killTimer);
          }
          wasRunning?.settle({
            kind: 'runtimeExited',
            error: new ExecutionEnvironmentError(environment.id, 'stopped during an invocation'),
          });
          emit({
            type: 'environmentStopped',
            environmentId: environment.id,
            pid: environment.pid,
            reason: 'stopped',
          });
        }),
      );
    })();
    return stopped;
  };

  const pool: ExecutionEnvironments = {
    count: options.count,
    async reserve(signal) {
      const environment = await nextFree(signal);
      return environment === undefined ? undefined : reserveFor(environment);
    },
    counters: () => Object.fromEntries(counters),
    stats: () => ({ ...stats, live: live.size }),
    stop,
  };

  // Every cold start is over before the first batch is handed over, so no init is mistaken for a timeout.
  const first = await Promise.allSettled(Array.from({ length: options.count }, () => spawn()));
  const failure = first.find((result) => result.status === 'rejected');
  if (failure !== undefined) {
    await stop();
    throw failure.reason;
  }
  for (const result of first) if (result.status === 'fulfilled') free(result.value);
  return pool;
}

function toError(serialized: SerializedError): FunctionError {
  return new FunctionError(serialized.name, serialized.message, serialized.stack);
}
