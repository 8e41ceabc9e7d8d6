/**
 * The operator CLI's parts that the local pipeline cannot exercise: target resolution from a stack's outputs,
 * SQS's move task (the emulator has none), the redrive refusals that depend on time, and usage errors.
 * End to end against the emulators: cli.e2e.test.ts.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { StackOutputs } from '../lib/stackOutputs.js';
import {
  correctionsFromJsonLines,
  matchCorrections,
  type RedriveTarget,
  redriveDeadLetters,
} from '../tools/commands/dlqRedrive.js';
import { decodeNextToken, encodeNextToken } from '../tools/commands/list.js';
import { messageFromFlags } from '../tools/commands/send.js';
import { keyFromBody, toDeadLetter } from '../tools/deadLetters.js';
import { parseSince } from '../tools/duration.js';
import { createBodyEditor } from '../tools/editor.js';
import { CliError, UsageError } from '../tools/errors.js';
import { freshIdempotencyKey } from '../tools/freshKey.js';
import { maskBody } from '../tools/mask.js';
import { endpointsForQueueUrls, need, resolveTarget, type Target } from '../tools/target.js';
import { runCliCaptured } from './support/runCliCaptured.js';
import { runRequestBody, VALID_CPF, VALID_CPF_FORMATTED } from './support/runRequestFactory.js';

const NOW_MS = Date.parse('2026-11-23T12:00:00.000Z');
const HOUR_MS = 3_600_000;
const QUEUE_URL = 'https://sqs.sa-east-1.amazonaws.com/111122223333/kycert-requests';
const DLQ_URL = 'https://sqs.sa-east-1.amazonaws.com/111122223333/kycert-requests-dlq';
const QUEUE_ARN = 'arn:aws:sqs:sa-east-1:111122223333:kycert-requests';
const DLQ_ARN = 'arn:aws:sqs:sa-east-1:111122223333:kycert-requests-dlq';
const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const sqs = mockClient(SQSClient);
const dynamodb = mockClient(DynamoDBClient);
const cloudFormation = mockClient(CloudFormationClient);
const scratch = mkdtempSync(join(tmpdir(), 'kycert-queue-cli-unit-'));

beforeEach(() => {
  sqs.reset();
  dynamodb.reset();
  cloudFormation.reset();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A DLQ message as the worker writes it. */
function deadLetterMessage(
  id: string,
  reason: string,
  key: string,
  body = runRequestBody({ idempotency_key: key }),
): Message {
  const text = (value: string) => ({ DataType: 'String', StringValue: value });
  return {
    MessageId: id,
    ReceiptHandle: `rh-${id}`,
    Body: body,
    MessageAttributes: {
      reason: text(reason),
      detail: text('-'),
      idempotency_key: text(key),
      source_message_id: text(`src-${id}`),
      receive_count: { DataType: 'Number', StringValue: '2' },
      dead_lettered_at: text(new Date(NOW_MS - HOUR_MS).toISOString()),
    },
  };
}

/** An outcome item as the worker leaves a dead-lettered key. */
function failedItem(key: string, overrides: Record<string, string> = {}) {
  const first = overrides.first_attempt_at ?? new Date(NOW_MS - 2 * HOUR_MS).toISOString();
  const item: Record<string, { S: string } | { N: string }> = {
    idempotency_key: { S: key },
    status: { S: overrides.status ?? 'failed' },
    attempts: { N: '2' },
    first_attempt_at: { S: first },
    updated_at: { S: new Date(NOW_MS - HOUR_MS).toISOString() },
    expires_at: { N: String((NOW_MS - HOUR_MS) / 1000 + 30 * 86_400) },
  };
  if ((overrides.status ?? 'failed') === 'failed')
    item.dead_letter_reason = { S: overrides.reason ?? 'retries_exhausted' };
  return item;
}

/** A DLQ that returns these messages once, then nothing (SQS's mock and its recorded calls start afresh). */
function dlqHolds(messages: Message[]): void {
  sqs.reset();
  sqs.on(ReceiveMessageCommand).resolvesOnce({ Messages: messages }).resolves({ Messages: [] });
  sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
  sqs.on(SendMessageCommand).resolves({ MessageId: 'new-message-1' });
  sqs.on(DeleteMessageCommand).resolves({});
  dynamodb.on(UpdateItemCommand).resolves({});
}

function awsTarget(): RedriveTarget {
  return {
    sqs: new SQSClient({ region: 'sa-east-1' }),
    dynamodb: new DynamoDBClient({ region: 'sa-east-1' }),
    queueUrl: QUEUE_URL,
    deadLetterQueueUrl: DLQ_URL,
    tableName: 'kycert-outcomes',
    idempotencyWindowHours: 22,
    moveTask: { queueArn: async () => QUEUE_ARN, deadLetterQueueArn: async () => DLQ_ARN },
  };
}

describe('resolveTarget', () => {
  const outputs = {
    [StackOutputs.queueUrl]: QUEUE_URL,
    [StackOutputs.queueArn]: QUEUE_ARN,
    [StackOutputs.deadLetterQueueUrl]: DLQ_URL,
    [StackOutputs.deadLetterQueueArn]: DLQ_ARN,
    [StackOutputs.outcomeTableName]: 'kycert-queue-prod-outcomes',
  };
  const stackAnswer = () =>
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'x',
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(NOW_MS),
          Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
        },
      ],
    });

  it.each([
    // The default stage is dev: production only when asked for.
    [{}, {}, 'kycert-queue-dev'],
    [{}, { KYCERT_QUEUE_STACK: 'kycert-queue-staging' }, 'kycert-queue-staging'],
    [{ stage: 'prod' }, { KYCERT_QUEUE_STACK: 'kycert-queue-staging' }, 'kycert-queue-prod'],
    [{ stack: 'payments-kyc' }, {}, 'payments-kyc'],
  ])(
    'finds the queue, DLQ, table and ARNs from the outputs of the stack (%o, env %o → %s)',
    async (options, env, stackName) => {
      // Prepare
      stackAnswer();

      // Act
      const target = await resolveTarget(
        { ...options, region: 'sa-east-1' },
        { env, cloudFormation: new CloudFormationClient({ region: 'sa-east-1' }) },
      );

      // Assess
      expect(cloudFormation).toReceiveCommandWith(DescribeStacksCommand, { StackName: stackName });
      expect(target).toMatchObject({
        kind: 'stack',
        description: `stack ${stackName} (sa-east-1)`,
        queueUrl: QUEUE_URL,
        deadLetterQueueUrl: DLQ_URL,
        tableName: 'kycert-queue-prod-outcomes',
        supportsMessageMoveTask: true,
        idempotencyWindowHours: 22,
      });
      expect(await target.queueArn()).toBe(QUEUE_ARN);
      expect(await target.deadLetterQueueArn()).toBe(DLQ_ARN);
      expect(sqs).not.toReceiveCommand(GetQueueAttributesCommand);
      target.destroy();
    },
  );

  it('says which stack and region when the stack does not exist', async () => {
    // Prepare
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(new Error('Stack with id kycert-queue-dev does not exist'));

    // Act
    const resolving = resolveTarget(
      { region: 'sa-east-1' },
      { env: {}, cloudFormation: new CloudFormationClient({ region: 'sa-east-1' }) },
    );

    // Assess
    await expect(resolving).rejects.toThrow(
      new CliError(
        'stack kycert-queue-dev not found in sa-east-1; give --stack or --stage (or --region, AWS_REGION)',
      ),
    );
  });

  it('uses explicit resources without reading a stack, reads an ARN with GetQueueAttributes, and says what is missing', async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { QueueArn: DLQ_ARN } });

    // Act
    const target = await resolveTarget(
      { dlqUrl: DLQ_URL, region: 'sa-east-1' },
      { env: { AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9324' } },
    );

    // Assess
    expect(cloudFormation).not.toReceiveCommand(DescribeStacksCommand);
    expect(target.kind).toBe('explicit');
    expect(target.supportsMessageMoveTask).toBe(false);
    expect(await target.deadLetterQueueArn()).toBe(DLQ_ARN);
    expect(() => need(target, 'tableName')).toThrow(
      new UsageError('this command needs --table (or --stack / --local to find it)'),
    );
    target.destroy();
  });

  it.each([
    [
      { local: true, stack: 'x' },
      '--local cannot be combined with --stack, --stage, --queue-url, --dlq-url or --table',
    ],
    [{ stack: 'x', stage: 'dev' }, 'give --stack or --stage, not both'],
    [{ stage: 'Prod!' }, '--stage must match /^[a-z][a-z0-9-]{0,23}$/, got "Prod!"'],
    [{ localState: 'x.json' }, '--local-state needs --local'],
    [
      { local: true, profile: 'ops' },
      '--local uses the local emulators: --region and --profile do not apply',
    ],
    [
      { queueUrl: 'http://localhost:4566/000000000000/q', dlqUrl: DLQ_URL },
      '--queue-url and --dlq-url are on different hosts (http://localhost:4566, https://sqs.sa-east-1.amazonaws.com): give the queues of one SQS endpoint',
    ],
    [{ queueUrl: 'kycert-requests' }, 'a queue URL must be an http(s) URL, got "kycert-requests"'],
  ])('refuses %o', async (options, message) => {
    await expect(resolveTarget(options, { env: {} })).rejects.toThrow(new UsageError(message));
  });

  it('reads the local pipeline from its state file, and says how to start one when it is absent or stopped', async () => {
    // Prepare
    const state = join(scratch, 'pipeline.json');
    writeFileSync(
      state,
      JSON.stringify({
        pid: 4242,
        AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9324',
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:8000',
        AWS_REGION: 'us-east-1',
        QUEUE_URL: QUEUE_URL,
        DEAD_LETTER_QUEUE_URL: DLQ_URL,
        OUTCOME_TABLE_NAME: 'kycert-outcomes',
      }),
    );

    // Act
    const running = await resolveTarget({ local: true, localState: state }, { isProcessAlive: () => true });
    const stopped = resolveTarget({ local: true, localState: state }, { isProcessAlive: () => false });
    const absent = resolveTarget({ local: true, localState: join(scratch, 'none.json') });

    // Assess
    expect(running).toMatchObject({
      kind: 'local',
      description: 'the local pipeline (pid 4242)',
      queueUrl: QUEUE_URL,
      tableName: 'kycert-outcomes',
      supportsMessageMoveTask: false,
    });
    running.destroy();
    await expect(stopped).rejects.toThrow(
      /pid 4242\) is not running any more; start it with `npm start -- --keep-running`/,
    );
    await expect(absent).rejects.toThrow(/no local pipeline is running \(.*none\.json not found\)/);
  });
});

describe('queue URLs given by hand', () => {
  const LOCALSTACK_QUEUE =
    'http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/kycert-requests';
  const EMULATOR_QUEUE = 'http://sqs.us-east-1.localhost:9324/000000000000/kycert-requests';

  it.each([
    [[QUEUE_URL, DLQ_URL], {}, { onAws: true }],
    [
      [LOCALSTACK_QUEUE],
      {},
      {
        onAws: false,
        sqs: 'http://sqs.us-east-1.localhost.localstack.cloud:4566',
        dynamodb: 'http://sqs.us-east-1.localhost.localstack.cloud:4566',
      },
    ],
    // `*.localhost` is loopback (RFC 6761), a name Node's resolver does not know.
    [[EMULATOR_QUEUE], {}, { onAws: false, sqs: 'http://localhost:9324', dynamodb: 'http://localhost:9324' }],
    [
      [EMULATOR_QUEUE],
      { AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9324', AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:8000' },
      { onAws: false, sqs: undefined, dynamodb: undefined },
    ],
  ])('%j with env %o: %o', (urls, env, expected) => {
    const { notes: _notes, ...endpoints } = endpointsForQueueUrls(urls, { env, tableGiven: true });
    expect(endpoints).toEqual(expected);
  });

  it('says where requests go when the host is not AWS’s, and whether the environment chose it', () => {
    expect(endpointsForQueueUrls([EMULATOR_QUEUE], { env: {}, tableGiven: true }).notes).toEqual([
      'sqs.us-east-1.localhost:9324 is not an AWS host: SQS requests go to http://localhost:9324 (AWS_ENDPOINT_URL_SQS names another endpoint)',
      'DynamoDB requests go to the same endpoint, http://localhost:9324, as on LocalStack (AWS_ENDPOINT_URL_DYNAMODB names another)',
    ]);
    expect(
      endpointsForQueueUrls([EMULATOR_QUEUE], {
        env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' },
        tableGiven: false,
      }).notes,
    ).toEqual([
      'sqs.us-east-1.localhost:9324 is not an AWS host: SQS requests go to http://127.0.0.1:4566, from the environment',
    ]);
  });

  it('points the clients at an emulator’s queue URL, not at AWS, and uses no move task there', async () => {
    // Act
    const target = await resolveTarget(
      { queueUrl: EMULATOR_QUEUE, table: 'kycert-outcomes', region: 'us-east-1', profile: 'ops' },
      { env: {} },
    );

    // Assess
    expect(await target.sqs.config.endpoint?.()).toMatchObject({ hostname: 'localhost', port: 9324 });
    expect(await target.dynamodb.config.endpoint?.()).toMatchObject({ hostname: 'localhost', port: 9324 });
    expect(target.supportsMessageMoveTask).toBe(false);
    expect(target.description).toBe(
      `queue ${EMULATOR_QUEUE}, table kycert-outcomes (not AWS) (us-east-1, profile ops)`,
    );
    expect(target.notes).toHaveLength(2);
    target.destroy();
  });

  it('passes --profile to every client', async () => {
    // Prepare
    cloudFormation.on(DescribeStacksCommand).resolves({ Stacks: [] });

    // Act
    const target = await resolveTarget(
      { stack: 'payments-kyc', region: 'sa-east-1', profile: 'ops' },
      { env: {}, cloudFormation: new CloudFormationClient({ region: 'sa-east-1' }) },
    );

    // Assess
    expect(target.description).toBe('stack payments-kyc (sa-east-1, profile ops)');
    expect((target.sqs.config as { profile?: string }).profile).toBe('ops');
    expect((target.dynamodb.config as { profile?: string }).profile).toBe('ops');
    target.destroy();
  });
});

describe('--local from a subdirectory', () => {
  it('finds .local-data/pipeline.json in the nearest directory above the working directory', async () => {
    // Prepare
    const root = mkdtempSync(join(scratch, 'repo-'));
    mkdirSync(join(root, '.local-data'));
    mkdirSync(join(root, 'docs', 'deep'), { recursive: true });
    writeFileSync(
      join(root, '.local-data', 'pipeline.json'),
      JSON.stringify({
        AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9324',
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:8000',
        AWS_REGION: 'us-east-1',
        QUEUE_URL: QUEUE_URL,
        DEAD_LETTER_QUEUE_URL: DLQ_URL,
        OUTCOME_TABLE_NAME: 'from-the-root',
      }),
    );

    // Act
    const found = await resolveTarget({ local: true }, { env: {}, cwd: join(root, 'docs', 'deep') });
    const elsewhere = resolveTarget({ local: true }, { env: {}, cwd: scratch });

    // Assess
    expect(found.tableName).toBe('from-the-root');
    found.destroy();
    await expect(elsewhere).rejects.toThrow(
      `no local pipeline is running (${join(scratch, '.local-data/pipeline.json')} not found, nor in a directory above)`,
    );
  });
});

describe('dlq redrive asks before it moves more than one message', () => {
  const keys = ['idem-cccc-0001', 'idem-cccc-0002'];
  const stackTarget = (): Target => ({
    ...awsTarget(),
    kind: 'stack',
    description: 'stack kycert-queue-prod (sa-east-1)',
    notes: [],
    supportsMessageMoveTask: false,
    queueArn: async () => QUEUE_ARN,
    deadLetterQueueArn: async () => DLQ_ARN,
    destroy() {},
  });
  async function redrive(args: string[], terminal: { tty: boolean; answer?: string }) {
    dlqHolds(keys.map((key, i) => deadLetterMessage(`m${i + 1}`, 'retries_exhausted', key)));
    dynamodb.on(GetItemCommand).resolves({ Item: failedItem(keys[0] as string) });
    const questions: string[] = [];
    const run = await runCliCaptured(['dlq', 'redrive', '--reason', 'retries_exhausted', ...args], {
      stdinIsTTY: terminal.tty,
      nowMs: () => NOW_MS,
      resolveTarget: async () => stackTarget(),
      ask: async (question) => {
        questions.push(question);
        return terminal.answer ?? '';
      },
    });
    return { ...run, questions };
  }

  it('without a terminal and without --yes: refuses in one line, changes nothing', async () => {
    const run = await redrive([], { tty: false });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'kycert-queue: redriving from the DLQ to the requests queue of stack kycert-queue-prod (sa-east-1)\n',
    );
    expect(run.stderr.trim().split('\n').at(-1)).toBe(
      'kycert-queue: Redrive 2 DLQ messages to the requests queue of stack kycert-queue-prod (sa-east-1)? ' +
        'Not without confirmation: pass --yes (no terminal to ask on)',
    );
    expect(sqs).not.toReceiveCommand(SendMessageCommand);
    expect(dynamodb).not.toReceiveCommand(UpdateItemCommand);
  });

  it('on a terminal: asks, and anything but yes changes nothing', async () => {
    const run = await redrive([], { tty: true, answer: 'n' });
    expect(run.questions).toEqual([
      'Redrive 2 DLQ messages to the requests queue of stack kycert-queue-prod (sa-east-1)? [y/N] ',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('kycert-queue: not confirmed: nothing was redriven');
    expect(sqs).not.toReceiveCommand(SendMessageCommand);
  });

  it.each([
    ['yes on a terminal', [], { tty: true, answer: 'y' }, 1],
    ['--yes without a terminal', ['--yes'], { tty: false }, 0],
  ])('%s: redrives both', async (_name, args, terminal, questions) => {
    const run = await redrive(args, terminal);
    expect(run.code).toBe(0);
    expect(run.questions).toHaveLength(questions);
    expect(sqs).toReceiveCommandTimes(SendMessageCommand, 2);
  });

  it('a dry run asks nothing', async () => {
    const run = await redrive(['--dry-run'], { tty: false });
    expect(run.code).toBe(0);
    expect(run.questions).toEqual([]);
    expect(run.stderr).toContain('dry run: redriving from the DLQ');
  });
});

describe('tables fit the terminal', () => {
  const key = 'kq1_6bd2e72b3905bd7915bbe8259b01b39e718d4bf56cdb2d6b61ed13d6c7f1b457';
  async function dlqList(args: string[], columns: number | undefined) {
    dlqHolds([deadLetterMessage('302010e5-4b65-45be-ab25-f882bcc8c910', 'retries_exhausted', key)]);
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: {} });
    const run = await runCliCaptured(['dlq', 'list', ...args], {
      columns,
      nowMs: () => NOW_MS,
      resolveTarget: async () => ({
        ...awsTarget(),
        kind: 'stack',
        description: 'stack kycert-queue-prod (sa-east-1)',
        notes: [],
        supportsMessageMoveTask: true,
        queueArn: async () => QUEUE_ARN,
        deadLetterQueueArn: async () => DLQ_ARN,
        destroy() {},
      }),
    });
    expect(run.code).toBe(0);
    return run.stdout.split('\n').filter((line) => /^[┌│├└]/.test(line));
  }
  const widest = (lines: string[]) => Math.max(...lines.map((line) => [...line].length));

  it('an 80-column terminal gets an 80-column table, keys and bodies cut short with "…"', async () => {
    const lines = await dlqList([], 80);
    expect(widest(lines)).toBeLessThanOrEqual(80);
    expect(lines.join('\n')).toContain('kq1_6b');
    expect(lines.join('\n')).not.toContain(key);
    expect(lines.join('\n')).toContain('…');
  });

  it('--wide shows every column whole, the body too', async () => {
    const lines = await dlqList(['--wide'], 80);
    expect(widest(lines)).toBeGreaterThan(80);
    expect(lines.join('\n')).toContain(key);
    expect(lines.join('\n')).toContain('"external_id":');
  });
});

describe('dlq redrive with SQS’s move task (AWS)', () => {
  it('moves "all of them" with the move task, after reopening their failed outcomes, and waits for it', async () => {
    // Prepare
    dlqHolds([
      deadLetterMessage('m1', 'retries_exhausted', 'idem-aaaa-0001'),
      deadLetterMessage('m2', 'kycert_unauthorized:invalid_api_key', 'idem-aaaa-0002'),
    ]);
    dynamodb.on(GetItemCommand).callsFake((input) => ({ Item: failedItem(input.Key.idempotency_key.S) }));
    const order: string[] = [];
    dynamodb.on(UpdateItemCommand).callsFake(() => {
      order.push('reopen');
      return {};
    });
    sqs.on(StartMessageMoveTaskCommand).callsFake(() => {
      order.push('start');
      return { TaskHandle: 'task-1' };
    });
    sqs
      .on(ListMessageMoveTasksCommand)
      .resolvesOnce({
        Results: [
          {
            TaskHandle: 'task-1',
            Status: 'RUNNING',
            ApproximateNumberOfMessagesMoved: 1,
            ApproximateNumberOfMessagesToMove: 2,
          },
        ],
      })
      .resolves({
        Results: [
          {
            TaskHandle: 'task-1',
            Status: 'COMPLETED',
            ApproximateNumberOfMessagesMoved: 2,
            ApproximateNumberOfMessagesToMove: 2,
          },
        ],
      });
    const progress: [number, number][] = [];
    let slept = 0;

    // Act
    const report = await redriveDeadLetters(awsTarget(), {
      nowMs: () => NOW_MS,
      sleep: async () => {
        slept += 1;
      },
      onProgress: (done, total) => progress.push([done, total]),
    });

    // Assess
    expect(report.method).toBe('move_task');
    expect(report.move_task).toEqual({
      task_handle: 'task-1',
      status: 'COMPLETED',
      moved: 2,
      to_move: 2,
      failure_reason: null,
    });
    expect(report.results.map((r) => [r.message_id, r.action, r.reopened])).toEqual([
      ['m1', 'redriven', true],
      ['m2', 'redriven', true],
    ]);
    expect(dynamodb).toReceiveCommandTimes(UpdateItemCommand, 2);
    expect(dynamodb).toReceiveCommandWith(UpdateItemCommand, {
      Key: { idempotency_key: { S: 'idem-aaaa-0001' } },
      ConditionExpression: '#status = :failed AND attribute_not_exists(superseded_by)',
    });
    expect(sqs).toReceiveCommandWith(StartMessageMoveTaskCommand, {
      SourceArn: DLQ_ARN,
      DestinationArn: QUEUE_ARN,
    });
    // The messages were made visible again for the task to move them, and none was moved by hand.
    expect(sqs).toReceiveCommandWith(ChangeMessageVisibilityBatchCommand, {
      Entries: [
        { Id: '0', ReceiptHandle: 'rh-m1', VisibilityTimeout: 0 },
        { Id: '1', ReceiptHandle: 'rh-m2', VisibilityTimeout: 0 },
      ],
    });
    expect(sqs).not.toReceiveCommand(SendMessageCommand);
    expect(sqs).not.toReceiveCommand(DeleteMessageCommand);
    expect(order).toEqual(['reopen', 'reopen', 'start']);
    expect(progress).toEqual([
      [1, 2],
      [2, 2],
    ]);
    expect(slept).toBe(1);
  });

  it('moves messages one by one instead when one of them cannot go back unchanged, and says why', async () => {
    // Prepare
    dlqHolds([
      deadLetterMessage('m1', 'retries_exhausted', 'idem-bbbb-0001'),
      deadLetterMessage('m2', 'kycert_rejected:insufficient_credits', 'idem-bbbb-0002'),
    ]);
    dynamodb.on(GetItemCommand).callsFake((input) => ({ Item: failedItem(input.Key.idempotency_key.S) }));

    // Act
    const report = await redriveDeadLetters(awsTarget(), { nowMs: () => NOW_MS });

    // Assess
    expect(report.method).toBe('per_message');
    expect(report.notes).toContain(
      "SQS's move task moves every message, and 1 cannot go back unchanged, so messages were moved one by one instead.",
    );
    expect(sqs).not.toReceiveCommand(StartMessageMoveTaskCommand);
    expect(report.results.map((r) => [r.message_id, r.action])).toEqual([
      ['m1', 'redriven'],
      ['m2', 'skipped'],
    ]);
    expect(sqs).toReceiveCommandWith(SendMessageCommand, {
      QueueUrl: QUEUE_URL,
      MessageBody: runRequestBody({ idempotency_key: 'idem-bbbb-0001' }),
    });
    expect(sqs).toReceiveCommandWith(DeleteMessageCommand, { QueueUrl: DLQ_URL, ReceiptHandle: 'rh-m1' });
    // The skipped one is released; the redriven one is not (it was deleted).
    expect(sqs).toReceiveCommandWith(ChangeMessageVisibilityBatchCommand, {
      Entries: [{ Id: '0', ReceiptHandle: 'rh-m2', VisibilityTimeout: 0 }],
    });
  });

  it('reports every message as failed when the move task fails', async () => {
    // Prepare
    dlqHolds([deadLetterMessage('m1', 'retries_exhausted', 'idem-cccc-0001')]);
    dynamodb.on(GetItemCommand).resolves({ Item: failedItem('idem-cccc-0001') });
    sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'task-2' });
    sqs.on(ListMessageMoveTasksCommand).resolves({
      Results: [
        { TaskHandle: 'task-2', Status: 'FAILED', FailureReason: 'AWS.SimpleQueueService.NonExistentQueue' },
      ],
    });

    // Act
    const report = await redriveDeadLetters(awsTarget(), { nowMs: () => NOW_MS, sleep: async () => {} });

    // Assess
    expect(report.results.map((r) => r.action)).toEqual(['failed']);
    expect(report.notes.join(' ')).toContain(
      'The move task ended FAILED: AWS.SimpleQueueService.NonExistentQueue',
    );
  });
});

describe('dlq redrive refusals and fresh keys', () => {
  it('refuses an unchanged redrive past the key window, and --fresh-key sends it under a new key linked from the old', async () => {
    // Prepare
    const key = 'idem-dddd-0001';
    const old = failedItem(key, { first_attempt_at: new Date(NOW_MS - 23 * HOUR_MS).toISOString() });
    dynamodb.on(GetItemCommand).resolves({ Item: old });
    dlqHolds([deadLetterMessage('m1', 'retries_exhausted', key)]);

    // Act
    const unchanged = await redriveDeadLetters(awsTarget(), { keys: [key], nowMs: () => NOW_MS });
    dlqHolds([deadLetterMessage('m1', 'retries_exhausted', key)]);
    const fresh = await redriveDeadLetters(awsTarget(), { keys: [key], freshKey: true, nowMs: () => NOW_MS });

    // Assess
    expect(unchanged.results).toMatchObject([
      { action: 'skipped', note: expect.stringContaining('22 h window has passed') },
    ]);
    expect(unchanged.results[0]?.note).toContain('--fresh-key');
    const [result] = fresh.results;
    expect(result).toMatchObject({ action: 'redriven_fresh_key', new_message_id: 'new-message-1' });
    expect(result?.new_idempotency_key).toMatch(UUID_V5);
    const sent = JSON.parse(String(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageBody));
    expect(sent).toEqual({ ...JSON.parse(runRequestBody()), idempotency_key: result?.new_idempotency_key });
    expect(dynamodb).toReceiveCommandWith(UpdateItemCommand, {
      Key: { idempotency_key: { S: key } },
      ConditionExpression: 'attribute_exists(idempotency_key)',
    });
    const link = dynamodb.commandCalls(UpdateItemCommand)[0]?.args[0].input;
    expect(Object.values(link?.ExpressionAttributeValues ?? {})).toContainEqual({
      S: result?.new_idempotency_key,
    });
    expect(sqs).toReceiveCommandWith(DeleteMessageCommand, { ReceiptHandle: 'rh-m1' });
  });

  it.each([
    ['retry_scheduled', 'a fresh key could buy a second run'],
    ['succeeded', 'a fresh key would buy a second run'],
  ])('refuses --fresh-key while the old key is %s, unless --force', async (status, note) => {
    // Prepare
    dynamodb.on(GetItemCommand).resolves({ Item: failedItem('idem-eeee-0001', { status }) });
    dlqHolds([deadLetterMessage('m1', 'retries_exhausted', 'idem-eeee-0001')]);

    // Act
    const refused = await redriveDeadLetters(awsTarget(), { freshKey: true, nowMs: () => NOW_MS });
    dlqHolds([deadLetterMessage('m1', 'retries_exhausted', 'idem-eeee-0001')]);
    const forced = await redriveDeadLetters(awsTarget(), {
      freshKey: true,
      force: true,
      nowMs: () => NOW_MS,
    });

    // Assess
    expect(refused.results).toMatchObject([{ action: 'skipped', note: expect.stringContaining(note) }]);
    expect(forced.results).toMatchObject([{ action: 'redriven_fresh_key' }]);
  });

  it('keeps the message in the DLQ when the send fails, and says the outcome was reopened', async () => {
    // Prepare
    dynamodb.on(GetItemCommand).resolves({ Item: failedItem('idem-ffff-0001') });
    dlqHolds([deadLetterMessage('m1', 'retries_exhausted', 'idem-ffff-0001')]);
    sqs.on(SendMessageCommand).rejects(new Error('Access to the resource is denied'));

    // Act
    const report = await redriveDeadLetters(awsTarget(), { keys: ['idem-ffff-0001'], nowMs: () => NOW_MS });

    // Assess
    expect(report.results).toMatchObject([
      { action: 'failed', reopened: true, note: expect.stringContaining('Access to the resource is denied') },
    ]);
    expect(report.results[0]?.note).toContain('the message is still in the DLQ');
    expect(sqs).not.toReceiveCommand(DeleteMessageCommand);
    expect(sqs).toReceiveCommandWith(ChangeMessageVisibilityBatchCommand, {
      Entries: [{ Id: '0', ReceiptHandle: 'rh-m1', VisibilityTimeout: 0 }],
    });
  });

  it('makes the messages it does not redrive visible again before it redrives the selection', async () => {
    // Prepare
    dlqHolds([
      deadLetterMessage('m1', 'retries_exhausted', 'idem-iiii-0001'),
      deadLetterMessage('m2', 'retries_exhausted', 'idem-iiii-0002'),
    ]);
    dynamodb.on(GetItemCommand).resolves({ Item: failedItem('idem-iiii-0001') });
    const order: string[] = [];
    sqs.on(ChangeMessageVisibilityBatchCommand).callsFake((input) => {
      order.push(`release ${input.Entries.map((e: { ReceiptHandle: string }) => e.ReceiptHandle).join(',')}`);
      return { Successful: [], Failed: [] };
    });
    sqs.on(SendMessageCommand).callsFake(() => {
      order.push('send');
      return { MessageId: 'new-message-1' };
    });

    // Act
    const report = await redriveDeadLetters(awsTarget(), { keys: ['idem-iiii-0001'], nowMs: () => NOW_MS });

    // Assess
    expect(report.results.map((r) => [r.message_id, r.action])).toEqual([['m1', 'redriven']]);
    expect(order).toEqual(['release rh-m2', 'send']);
  });

  it('fails before any change when a filter matches nothing', async () => {
    dlqHolds([deadLetterMessage('m1', 'retries_exhausted', 'idem-gggg-0001')]);
    await expect(redriveDeadLetters(awsTarget(), { reasons: ['kycert_rejected'] })).rejects.toThrow(
      new CliError('no DLQ message matches the selection'),
    );
    expect(sqs).not.toReceiveCommand(SendMessageCommand);
  });
});

describe('corrected bodies (--bodies)', () => {
  const held = (id: string, key: string | null, body = '{}') => ({
    ...toDeadLetter({
      messageId: id,
      body,
      messageAttributes: key === null ? {} : { idempotency_key: { StringValue: key } },
    }),
    receiptHandle: `rh-${id}`,
  });

  it('reads bare bodies and {"message_id", "body"} lines', () => {
    expect(
      correctionsFromJsonLines(
        `${runRequestBody()}\n\n{"message_id":"m9","body":{"template_id":"tpl_x"}}\n`,
        'fix.jsonl',
      ),
    ).toEqual([
      { source: 'fix.jsonl:1', text: runRequestBody() },
      { source: 'fix.jsonl:3', messageId: 'm9', text: '{"template_id":"tpl_x"}' },
    ]);
    expect(() => correctionsFromJsonLines('{"x":', 'fix.jsonl')).toThrow(
      new UsageError('fix.jsonl:1 is not JSON'),
    );
  });

  it('matches by idempotency key, by the derived key, or by message id, and refuses lines that match nothing', () => {
    // Prepare
    const derivedBody = JSON.stringify({
      template_id: 'tpl_a',
      subject: { type: 'pf', doc: VALID_CPF },
      external_id: 'o-1',
    });
    const derivedKey = keyFromBody(derivedBody) ?? '';
    const messages = [held('m1', 'idem-hhhh-0001'), held('m2', derivedKey), held('m3', null, 'not json')];

    // Act
    const matched = matchCorrections(messages, [
      { source: 'f:1', text: runRequestBody({ idempotency_key: 'idem-hhhh-0001' }) },
      { source: 'f:2', text: derivedBody },
      { source: 'f:3', messageId: 'm3', text: derivedBody },
    ]);

    // Assess
    expect([...matched.keys()]).toEqual(['m1', 'm2', 'm3']);
    expect(() =>
      matchCorrections(messages, [
        { source: 'f:4', text: runRequestBody({ idempotency_key: 'idem-none-0001' }) },
      ]),
    ).toThrow(
      new CliError(
        '--bodies: f:4 matches no selected DLQ message (key idem-none-0001). Nothing was redriven.',
      ),
    );
  });
});

describe('--edit', () => {
  const message = toDeadLetter({
    messageId: 'm-edit-1',
    body: runRequestBody({ template_id: 'legacy_x' }),
    messageAttributes: { reason: { StringValue: 'kycert_rejected:template_not_found' } },
  });
  const editors = () => readdirSync(tmpdir()).filter((name) => name.startsWith('kycert-queue-edit-'));

  it('returns the body as corrected in $EDITOR, compacted, and removes its temporary file', async () => {
    // Prepare
    const before = editors();
    let told = '';
    const edit = createBodyEditor(
      { EDITOR: "sed -i 's/legacy_x/tpl_onboarding_pf/'" },
      { stdinIsTTY: true, stderr: (text) => (told += text) },
    );

    // Act
    const corrected = await edit(message);

    // Assess
    expect(corrected).toBe(runRequestBody({ template_id: 'tpl_onboarding_pf' }));
    expect(told).toContain('Editing DLQ message m-edit-1 (kycert_rejected:template_not_found)');
    expect(editors()).toEqual(before);
  });

  it('returns undefined when the body is left unchanged or emptied, and fails when the editor does', async () => {
    const terminal = { stdinIsTTY: true, stderr: () => {} };
    expect(await createBodyEditor({ VISUAL: 'true' }, terminal)(message)).toBeUndefined();
    expect(await createBodyEditor({ EDITOR: 'truncate -s 0' }, terminal)(message)).toBeUndefined();
    await expect(createBodyEditor({ EDITOR: 'false' }, terminal)(message)).rejects.toThrow(
      new CliError('the editor (false) failed with exit code 1'),
    );
  });
});

describe('small parts', () => {
  it.each([
    ['90s', NOW_MS - 90_000],
    ['15m', NOW_MS - 900_000],
    ['1h', NOW_MS - HOUR_MS],
    ['1h30m', NOW_MS - 1.5 * HOUR_MS],
    ['2d', NOW_MS - 48 * HOUR_MS],
    ['2026-11-23T03:00:00Z', Date.parse('2026-11-23T03:00:00Z')],
  ])('--since %s', (text, expected) => {
    expect(parseSince(text, NOW_MS)).toBe(expected);
  });

  it.each(['yesterday', '1w', '-1h', ''])('--since %j is a usage error', (text) => {
    expect(() => parseSince(text, NOW_MS)).toThrow(UsageError);
  });

  it('masks the document of a body, and any document-like text, but not the key', () => {
    // Prepare
    const body = JSON.stringify({
      template_id: 'tpl_onboarding_pf',
      subject: { type: 'pf', doc: VALID_CPF_FORMATTED },
      external_id: VALID_CPF,
      metadata: { note: `cliente ${VALID_CPF_FORMATTED}` },
      idempotency_key: 'kq1_12345678901234567890abcdef',
    });

    // Act
    const masked = maskBody(body);

    // Assess
    expect(masked).not.toContain(VALID_CPF);
    expect(masked).not.toContain(VALID_CPF_FORMATTED);
    expect(JSON.parse(masked)).toMatchObject({
      subject: { type: 'pf', doc: '*********25' },
      external_id: '[document]',
      metadata: { note: 'cliente [document]' },
      idempotency_key: 'kq1_12345678901234567890abcdef',
    });
    expect(maskBody(`oops ${VALID_CPF}`)).toBe('oops [document]');
  });

  it('derives the same fresh key for the same correction of the same key, and another for another', () => {
    const request = JSON.parse(runRequestBody()) as Record<string, unknown>;
    const key = freshIdempotencyKey('idem-0001-aaaaaaaa', request);
    expect(key).toMatch(UUID_V5);
    expect(freshIdempotencyKey('idem-0001-aaaaaaaa', { ...request, idempotency_key: 'whatever' })).toBe(key);
    expect(freshIdempotencyKey('idem-0001-aaaaaaaa', { ...request, template_id: 'tpl_b' })).not.toBe(key);
    expect(freshIdempotencyKey('idem-0002-bbbbbbbb', request)).not.toBe(key);
  });

  it('builds a message from flags, with the subject type from the document length', () => {
    expect(
      JSON.parse(
        messageFromFlags({
          template: 'tpl_a',
          doc: '11.222.333/0001-81',
          externalId: 'o-1',
          metadata: ['a=b=c'],
        }).text,
      ),
    ).toEqual({
      template_id: 'tpl_a',
      subject: { type: 'pj', doc: '11.222.333/0001-81' },
      external_id: 'o-1',
      metadata: { a: 'b=c' },
    });
    expect(() => messageFromFlags({ doc: VALID_CPF })).toThrow(
      new UsageError('send needs a JSON message, --file, or --template'),
    );
    expect(() => messageFromFlags({ template: 't', doc: VALID_CPF, metadata: ['novalue'] })).toThrow(
      new UsageError('--metadata takes key=value, got "novalue"'),
    );
  });

  it('round-trips a list page token across the four shards, and refuses a foreign or broken one', () => {
    const key = {
      idempotency_key: { S: 'k' },
      list_status: { S: 'delivery:failed#2' },
      updated_at: { S: '2026-11-23T00:00:00Z' },
    };
    const positions = [null, 'done', key, null] as const;
    expect(decodeNextToken(encodeNextToken('delivery:failed', positions), 'delivery:failed')).toEqual(
      positions,
    );
    expect(() => decodeNextToken(encodeNextToken('delivery:failed', positions), 'decision:blocked')).toThrow(
      new UsageError(
        '--next-token belongs to a list of failed deliveries (--status failed), not of blocked decisions (--decision blocked)',
      ),
    );
    expect(() =>
      decodeNextToken(encodeNextToken('delivery:failed', [null, null]), 'delivery:failed'),
    ).toThrow(new UsageError('--next-token is not a token printed by list'));
    expect(() => decodeNextToken('garbage', 'delivery:failed')).toThrow(
      new UsageError('--next-token is not a token printed by list'),
    );
  });
});

describe('usage', () => {
  const cli = (...args: string[]) =>
    runCliCaptured(args, {
      nowMs: () => NOW_MS,
      resolveTarget: async () => {
        throw new Error('no target in these tests');
      },
    });

  it.each([
    [[], 'Usage: kycert-queue [options] [command]'],
    [['dlq'], 'Usage: kycert-queue dlq [options] [command]'],
    [['frobnicate'], "error: unknown command 'frobnicate'"],
    [['status', 'k', '--bogus'], "error: unknown option '--bogus'"],
    [['list'], 'error: list takes exactly one of --status, --decision, --run-status and --unmatched'],
    [['list', '--status', 'failed', '--unmatched'], 'error: list takes exactly one of --status, --decision'],
    [
      ['list', '--status', 'retry_scheduled'],
      '--status takes failed (the list index holds dead-lettered keys; see one key of another status with `status <key>`); got "retry_scheduled".',
    ],
    [
      ['list', '--decision', 'APPROVED'],
      '--decision takes approved, blocked, pending_review, partial; got "APPROVED".',
    ],
    [['list', '--run-status', 'queued'], '--run-status takes failed, decision_overdue; got "queued".'],
    [['list', '--status', 'failed', '--limit', '0'], '--limit must be a whole number from 1 to 1000'],
    [['send'], 'send takes exactly one of: a JSON message, --file, or message flags'],
    [['send', '{}', '--template', 't'], 'send takes exactly one of'],
    [['status'], 'status needs an idempotency key, or --template with --external-id'],
    [
      ['dlq', 'redrive', '--edit'],
      '--edit needs a terminal; give the corrected bodies with --bodies FILE instead',
    ],
    [['dlq', 'redrive', '--edit', '--fresh-key'], 'choose one of --fresh-key, --edit and --bodies'],
    [['dlq', 'redrive', '--bodies', '/nonexistent/fix.jsonl'], 'cannot read --bodies /nonexistent/fix.jsonl'],
  ])('%j exits 2 with the problem and the usage', async (args, message) => {
    const run = await cli(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('Usage: kycert-queue');
    expect(run.stdout).toBe('');
  });

  it.each([
    [['--help']],
    [['send', '--help']],
    [['status', '--help']],
    [['list', '--help']],
    [['dlq', 'list', '--help']],
    [['dlq', 'show', '--help']],
    [['dlq', 'redrive', '--help']],
  ])('%j prints the help and exits 0', async (args) => {
    const run = await cli(...args);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: kycert-queue/);
  });

  it('--version prints the package version', async () => {
    const run = await cli('--version');
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
