import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, type TestContext, vi } from 'vitest';
import { createLambdaContext } from '../local/aws/createLambdaContext.js';
import type { EventSourcePollerEvent } from '../local/aws/EventSourcePollerEvent.js';
import { ExecutionEnvironmentError, FunctionError } from '../local/aws/errors.js';
import type { InvocationResult } from '../local/aws/FunctionInvoker.js';
import { startEventSourcePoller } from '../local/aws/startEventSourcePoller.js';
import { type LocalAws, startLocalAws } from '../local/aws/startLocalAws.js';
import { JumpingClock } from '../local/lambda/JumpingClock.js';
import {
  type ExecutionEnvironmentEvent,
  type ExecutionEnvironments,
  type ExecutionEnvironmentsOptions,
  startExecutionEnvironments,
} from '../local/lambda/startExecutionEnvironments.js';
import { workerPlugin } from '../local/lambda/WorkerPlugin.js';
import type { ProbeAnswer, ProbeCommand } from './support/environments/probeHandler.js';
import type { ProbePluginEvent } from './support/environments/probePlugin.js';
import { sqsRecordFactory } from './support/sqsRecordFactory.js';

/**
 * Lambda's execution environments, locally: each a process of its own running one invocation at a time,
 * killed and replaced at its timeout, replaced when it dies, with its own module state and its own
 * environment. A probe handler (test/support/environments/probeHandler.ts) says what it sees.
 */

const PROBE_HANDLER = {
  module: new URL('./support/environments/probeHandler.ts', import.meta.url).pathname,
  export: 'handler',
};
const probePlugin = (
  options: Parameters<typeof import('./support/environments/probePlugin.js').default>[0],
) =>
  workerPlugin<typeof import('./support/environments/probePlugin.js').default>(
    new URL('./support/environments/probePlugin.ts', import.meta.url),
    options,
  );

/** Starts environments of the probe handler that the test stops when it ends, pass or fail. */
async function startProbes(
  test: TestContext,
  options: Partial<ExecutionEnvironmentsOptions> = {},
): Promise<{ environments: ExecutionEnvironments; events: ExecutionEnvironmentEvent[] }> {
  const events: ExecutionEnvironmentEvent[] = [];
  const environments = await startExecutionEnvironments({
    count: 2,
    env: { PROBE_SETTING: 'given to the function' },
    region: 'us-east-1',
    handler: PROBE_HANDLER,
    onEvent: (event) => events.push(event),
    ...options,
  });
  test.onTestFinished(() => environments.stop());
  return { environments, events };
}

/** One invocation of the probe, in whichever environment is free first. */
async function invoke(
  environments: ExecutionEnvironments,
  command: ProbeCommand = {},
  timeoutMs = 10_000,
): Promise<InvocationResult> {
  const reserved = await environments.reserve(new AbortController().signal);
  if (reserved === undefined) throw new Error('no environment reserved');
  const context = createLambdaContext({
    functionName: 'probe',
    functionTimeoutSeconds: Math.ceil(timeoutMs / 1000),
    region: 'us-east-1',
  });
  return reserved.invoke(
    { Records: [sqsRecordFactory({ body: JSON.stringify(command) })] },
    context,
    timeoutMs,
  );
}

const answerOf = (result: InvocationResult): ProbeAnswer => {
  if (result.kind !== 'returned') throw new Error(`the probe did not return: ${result.kind}`);
  return result.response as ProbeAnswer;
};

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.concurrent('startExecutionEnvironments', () => {
  it('keeps module state per environment: each has its own process, its own count and its own cold start', async (test) => {
    const { expect } = test;

    // Prepare
    const { environments, events } = await startProbes(test);
    const started = events.filter((event) => event.type === 'environmentStarted');

    // Act: two at a time, twice, so that each environment runs two.
    const first = await Promise.all([
      invoke(environments, { sleepMs: 200 }),
      invoke(environments, { sleepMs: 200 }),
    ]);
    const second = await Promise.all([
      invoke(environments, { sleepMs: 200 }),
      invoke(environments, { sleepMs: 200 }),
    ]);

    // Assess
    const answers = [...first, ...second].map(answerOf);
    const pids = new Set(answers.map((answer) => answer.pid));
    expect(pids).toEqual(new Set(started.map((event) => event.pid)));
    expect(pids.size).toBe(2);
    expect(pids.has(process.pid)).toBe(false);
    for (const pid of pids) {
      const own = answers
        .filter((answer) => answer.pid === pid)
        .sort((a, b) => a.invocations - b.invocations);
      expect(own.map((answer) => [answer.invocations, answer.coldStart])).toEqual([
        [1, true],
        [2, false],
      ]);
      // One log stream per environment, as in Lambda.
      expect(new Set(own.map((answer) => answer.context.logStreamName)).size).toBe(1);
    }
    expect(new Set(answers.map((answer) => answer.context.logStreamName)).size).toBe(2);
    expect([...first, ...second].map((result) => result.environment?.coldStart)).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it("gives each environment exactly its configuration, never this process's environment, and leaves this one untouched", async (test) => {
    const { expect } = test;

    // Prepare
    vi.stubEnv('PARENT_ONLY', 'a secret of the test process');
    const before = { ...process.env };
    const { environments } = await startProbes(test, { functionName: 'probe-function' });

    // Act
    const answer = answerOf(await invoke(environments));

    // Assess
    expect(answer.env).toEqual({
      PROBE_SETTING: 'given to the function',
      PARENT_ONLY: null,
      AWS_LAMBDA_FUNCTION_NAME: 'probe-function',
    });
    expect(answer.context.functionName).toBe('probe-function');
    expect(process.env).toEqual(before);
    vi.unstubAllEnvs();
  });

  it("builds each invocation's context from the request id and deadline it is handed", async (test) => {
    const { expect } = test;

    // Prepare
    const { environments } = await startProbes(test, { count: 1 });
    const reserved = await environments.reserve(new AbortController().signal);
    const context = createLambdaContext({
      functionName: 'probe',
      functionTimeoutSeconds: 5,
      region: 'us-east-1',
    });

    // Act
    const result = await reserved?.invoke({ Records: [sqsRecordFactory({ body: '{}' })] }, context, 5_000);

    // Assess
    const answer = answerOf(result as InvocationResult);
    expect(answer.context.awsRequestId).toBe(context.awsRequestId);
    expect(answer.context.remainingMs).toBeGreaterThan(3_000);
    expect(answer.context.remainingMs).toBeLessThanOrEqual(5_000);
    expect(result?.functionDurationMs).toBeGreaterThanOrEqual(0);
  });

  it('runs one invocation at a time in each environment: a third waits for one of two to be free', async (test) => {
    const { expect } = test;

    // Prepare
    const { environments } = await startProbes(test);

    // Act
    const results = await Promise.all(
      Array.from({ length: 6 }, () => invoke(environments, { sleepMs: 300 })),
    );

    // Assess
    const answers = results.map(answerOf);
    for (const pid of new Set(answers.map((answer) => answer.pid))) {
      const own = answers
        .filter((answer) => answer.pid === pid)
        .sort((a, b) => a.startedAtMs - b.startedAtMs);
      expect(own).toHaveLength(3);
      for (let i = 1; i < own.length; i++) {
        expect(own[i]?.startedAtMs).toBeGreaterThanOrEqual(own[i - 1]?.endedAtMs as number);
      }
    }
  });

  it('kills an environment whose invocation outlives its timeout, and replaces it with a fresh process', async (test) => {
    const { expect } = test;

    // Prepare
    const { environments, events } = await startProbes(test, { count: 1 });

    // Act
    const timedOut = await invoke(environments, { sleepMs: 30_000 }, 500);
    const next = await invoke(environments);

    // Assess
    expect(timedOut).toMatchObject({ kind: 'timedOut', environment: { id: 0, coldStart: true } });
    const killedPid = timedOut.environment?.pid as number;
    await vi.waitFor(() => expect(isAlive(killedPid)).toBe(false));
    expect(answerOf(next)).toMatchObject({ invocations: 1, coldStart: true });
    expect(answerOf(next).pid).not.toBe(killedPid);
    expect(next.environment?.id).toBe(1);
    expect(events.map((event) => event.type)).toEqual([
      'environmentStarted',
      'environmentStopped',
      'environmentStarted',
    ]);
    expect(events[1]).toMatchObject({ environmentId: 0, pid: killedPid, reason: 'timeout' });
    expect(environments.stats()).toMatchObject({ started: 2, killedOnTimeout: 1, exited: 0, live: 1 });
  });

  it('fails the invocation of an environment that exits under it (Runtime.ExitError), and replaces it', async (test) => {
    const { expect } = test;

    // Prepare
    const { environments, events } = await startProbes(test, { count: 1 });

    // Act
    const crashed = await invoke(environments, { exitCode: 3 });
    const next = await invoke(environments);

    // Assess
    expect(crashed.kind).toBe('runtimeExited');
    expect(crashed.kind === 'runtimeExited' && crashed.error).toBeInstanceOf(ExecutionEnvironmentError);
    expect(crashed.kind === 'runtimeExited' && crashed.error.message).toContain('code 3');
    expect(answerOf(next)).toMatchObject({ invocations: 1, coldStart: true });
    expect(answerOf(next).pid).not.toBe(crashed.environment?.pid);
    expect(events[1]).toMatchObject({ type: 'environmentStopped', reason: 'exited' });
    expect(environments.stats()).toMatchObject({ started: 2, killedOnTimeout: 0, exited: 1 });
  });

  it("reports the handler's error as its environment saw it, and keeps the environment", async (test) => {
    const { expect } = test;

    // Prepare
    const { environments } = await startProbes(test, { count: 1 });

    // Act
    const failed = await invoke(environments, { throwMessage: 'the handler gave up' });
    const next = await invoke(environments);

    // Assess
    expect(failed.kind).toBe('threw');
    const error = failed.kind === 'threw' ? (failed.error as FunctionError) : undefined;
    expect(error).toBeInstanceOf(FunctionError);
    expect(error).toMatchObject({ errorType: 'TypeError', message: 'the handler gave up' });
    expect(error?.stack).toContain('probeHandler.ts');
    expect(answerOf(next)).toMatchObject({ invocations: 2, coldStart: false, pid: failed.environment?.pid });
  });

  it('lets plugins count across environments, report back, and move the shared clock for all', async (test) => {
    const { expect } = test;

    // Prepare
    const clock = new JumpingClock();
    const { environments, events } = await startProbes(test, {
      clock,
      plugins: [probePlugin({ tag: 'probe', jumpMsOnFirst: 3_600_000 })],
    });

    // Act
    await Promise.all([invoke(environments, { sleepMs: 300 }), invoke(environments, { sleepMs: 300 })]);
    await Promise.all([invoke(environments), invoke(environments)]);

    // Assess
    const reports = events.flatMap((event) =>
      event.type === 'pluginEvent' ? [{ plugin: event.plugin, ...(event.data as ProbePluginEvent) }] : [],
    );
    expect(reports.map((report) => report.invocation).sort()).toEqual([1, 2, 3, 4]);
    expect(new Set(reports.map((report) => report.environmentId))).toEqual(new Set([0, 1]));
    expect(reports.every((report) => report.plugin === 'probePlugin.ts' && report.tag === 'probe')).toBe(
      true,
    );
    expect(environments.counters()).toEqual({ invocations: 4 });
    expect(clock.offsetMs).toBe(3_600_000);
    // The jump was made in one environment; the later invocations, in both, saw it.
    for (const report of reports.filter((r) => r.invocation > 2)) {
      expect(Math.abs(report.clockOffsetMs - 3_600_000)).toBeLessThan(1_000);
    }
  });

  it('refuses to start when an environment fails its init, naming the cause', async (test) => {
    const { expect } = test;

    // Act
    const starting = startProbes(test, { plugins: [probePlugin({ tag: 'x', failInit: 'no such secret' })] });

    // Assess
    await expect(starting).rejects.toThrow(ExecutionEnvironmentError);
    await expect(starting).rejects.toThrow(/execution environment \d: init failed: no such secret/);
  });

  it('refuses a count out of range', async () => {
    await expect(
      startExecutionEnvironments({ count: 0, env: {}, region: 'us-east-1', handler: PROBE_HANDLER }),
    ).rejects.toThrow('count must be a whole number of environments from 1 to 64, got 0');
  });
});

describe('the event source poller in front of execution environments', () => {
  let aws: LocalAws;
  beforeAll(async () => {
    aws = await startLocalAws({ visibilityTimeoutSeconds: 30 });
  });
  afterAll(async () => {
    await aws?.stop();
  });

  it('never runs more invocations at once than min(concurrency, environments), one per environment', async (test) => {
    // Prepare
    const { environments } = await startProbes(test, { count: 2 });
    for (let i = 0; i < 8; i++) {
      await aws.clients.sqs.send(
        new SendMessageCommand({ QueueUrl: aws.queueUrl, MessageBody: JSON.stringify({ sleepMs: 300 }) }),
      );
    }
    const finished: Extract<EventSourcePollerEvent, { type: 'invocationFinished' }>[] = [];

    // Act
    const poller = await startEventSourcePoller({
      sqs: aws.clients.sqs,
      queueUrl: aws.queueUrl,
      invoker: environments,
      functionTimeoutSeconds: 10,
      batchSize: 1,
      concurrency: 4,
      onEvent: (event) => {
        if (event.type === 'invocationFinished') finished.push(event);
      },
    });
    test.onTestFinished(() => poller.stop());
    await vi.waitFor(() => expect(poller.stats().recordsDeleted).toBe(8), { timeout: 15_000, interval: 50 });

    // Assess
    expect(poller.stats()).toMatchObject({ invocations: 8, maxInvocationsInFlight: 2 });
    expect(new Set(finished.map((event) => event.environment?.id))).toEqual(new Set([0, 1]));
    // Timed inside the environment, around the probe's 300 ms sleep (timers may fire a millisecond early).
    expect(Math.min(...finished.map((event) => event.functionDurationMs ?? 0))).toBeGreaterThanOrEqual(295);
  });
});
