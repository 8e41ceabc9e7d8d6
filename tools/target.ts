import { readFileSync } from 'node:fs';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_STAGE, STAGE_NAME_PATTERN, stackNameFor } from '../lib/stackName.js';
import { StackOutputs } from '../lib/stackOutputs.js';
import { CliError, UsageError } from './errors.js';

/** Where `npm start` says how to reach the running local pipeline (see local/start.ts). */
export const DEFAULT_LOCAL_STATE_FILE = '.local-data/pipeline.json';

/** Environment variable naming the stack when neither `--stack` nor `--stage` is given. */
export const STACK_ENV_VARIABLE = 'KYCERT_QUEUE_STACK';

/** The worker's default (README, "Configuration"); the local pipeline's state file may say otherwise. */
const DEFAULT_IDEMPOTENCY_WINDOW_HOURS = 22;

export interface TargetOptions {
  stack?: string | undefined;
  stage?: string | undefined;
  region?: string | undefined;
  local?: boolean | undefined;
  localState?: string | undefined;
  queueUrl?: string | undefined;
  dlqUrl?: string | undefined;
  table?: string | undefined;
}

/** The resources one command works on, and clients to reach them. */
export interface Target {
  readonly kind: 'stack' | 'local' | 'explicit';
  /** For messages: "stack kycert-queue-prod (sa-east-1)", "the local pipeline (pid 4242)"… */
  readonly description: string;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  readonly queueUrl: string | undefined;
  readonly deadLetterQueueUrl: string | undefined;
  readonly tableName: string | undefined;
  /** No POST later than this after a key's first attempt; `dlq redrive` refuses to reopen older keys. */
  readonly idempotencyWindowHours: number;
  /** SQS's StartMessageMoveTask exists here (AWS); the local emulator has none. */
  readonly supportsMessageMoveTask: boolean;
  /** The ARNs, from the stack's outputs or from GetQueueAttributes. */
  queueArn(): Promise<string>;
  deadLetterQueueArn(): Promise<string>;
  destroy(): void;
}

export interface ResolveTargetDeps {
  env?: NodeJS.ProcessEnv;
  /** Tests pass a mocked one; otherwise one is made for the region. */
  cloudFormation?: CloudFormationClient;
  /** Whether a pid is alive; tests replace it. */
  isProcessAlive?: (pid: number) => boolean;
}

/**
 * One of three targets:
 * - `--local`: the pipeline `npm start -- --keep-running` runs, from its state file;
 * - `--queue-url` / `--dlq-url` / `--table`: those resources, with the standard AWS_ENDPOINT_URL_* overrides;
 * - otherwise a deployed stack, by `--stack`, `--stage`, $KYCERT_QUEUE_STACK or `kycert-queue-prod`, its
 *   resources read from its outputs, the region and credentials from the standard chain (or `--region`).
 * Explicit URLs given with `--stack` override that output.
 */
export async function resolveTarget(options: TargetOptions, deps: ResolveTargetDeps = {}): Promise<Target> {
  const env = deps.env ?? process.env;
  const explicit = {
    queueUrl: options.queueUrl,
    deadLetterQueueUrl: options.dlqUrl,
    tableName: options.table,
  };
  const anyExplicit = Object.values(explicit).some((value) => value !== undefined);
  if (options.stack !== undefined && options.stage !== undefined) {
    throw new UsageError('give --stack or --stage, not both');
  }
  if (options.stage !== undefined && !STAGE_NAME_PATTERN.test(options.stage)) {
    throw new UsageError(`--stage must match ${STAGE_NAME_PATTERN}, got "${options.stage}"`);
  }
  if (options.local === true) {
    if (options.stack !== undefined || options.stage !== undefined || anyExplicit) {
      throw new UsageError(
        '--local cannot be combined with --stack, --stage, --queue-url, --dlq-url or --table',
      );
    }
    return localTarget(options.localState ?? DEFAULT_LOCAL_STATE_FILE, deps);
  }
  if (options.localState !== undefined) throw new UsageError('--local-state needs --local');

  const stackName =
    options.stack ??
    (options.stage !== undefined ? stackNameFor(options.stage) : undefined) ??
    (anyExplicit ? undefined : (env[STACK_ENV_VARIABLE] ?? stackNameFor(DEFAULT_STAGE)));
  const sqs = new SQSClient({ ...regionOption(options.region), useQueueUrlAsEndpoint: false });
  const dynamodb = new DynamoDBClient({ ...regionOption(options.region) });
  const destroy = () => {
    sqs.destroy();
    dynamodb.destroy();
  };
  try {
    const outputs =
      stackName === undefined ? {} : await readStackOutputs(stackName, options.region, deps.cloudFormation);
    const region = await sqs.config.region().catch(() => options.region ?? '(no region)');
    return makeTarget({
      kind: stackName === undefined ? 'explicit' : 'stack',
      description:
        stackName === undefined ? `the queues and table given (${region})` : `stack ${stackName} (${region})`,
      sqs,
      dynamodb,
      queueUrl: explicit.queueUrl ?? outputs[StackOutputs.queueUrl],
      deadLetterQueueUrl: explicit.deadLetterQueueUrl ?? outputs[StackOutputs.deadLetterQueueUrl],
      tableName: explicit.tableName ?? outputs[StackOutputs.outcomeTableName],
      queueArn: explicit.queueUrl === undefined ? outputs[StackOutputs.queueArn] : undefined,
      deadLetterQueueArn:
        explicit.deadLetterQueueUrl === undefined ? outputs[StackOutputs.deadLetterQueueArn] : undefined,
      idempotencyWindowHours: DEFAULT_IDEMPOTENCY_WINDOW_HOURS,
      supportsMessageMoveTask: env.AWS_ENDPOINT_URL_SQS === undefined && env.AWS_ENDPOINT_URL === undefined,
      destroy,
    });
  } catch (error) {
    destroy();
    throw error;
  }
}

/** The resource a command needs, or a clear error saying how to give it. */
export function need(
  target: Pick<Target, 'queueUrl' | 'deadLetterQueueUrl' | 'tableName'>,
  what: 'queueUrl' | 'deadLetterQueueUrl' | 'tableName',
): string {
  const value = target[what];
  if (value === undefined || value === '') {
    const flag = { queueUrl: '--queue-url', deadLetterQueueUrl: '--dlq-url', tableName: '--table' }[what];
    throw new UsageError(`this command needs ${flag} (or --stack / --local to find it)`);
  }
  return value;
}

const LOCAL_STATE_KEYS = [
  'AWS_ENDPOINT_URL_SQS',
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_REGION',
  'QUEUE_URL',
  'DEAD_LETTER_QUEUE_URL',
  'OUTCOME_TABLE_NAME',
] as const;

function localTarget(stateFile: string, deps: ResolveTargetDeps): Target {
  const start = 'start it with `npm start -- --keep-running`';
  let state: Record<string, unknown>;
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `no local pipeline is running (${stateFile} not found); ${start}`
        : `cannot read ${stateFile}: ${(error as Error).message}`,
    );
  }
  const missing = LOCAL_STATE_KEYS.filter((key) => typeof state[key] !== 'string');
  if (missing.length > 0) throw new CliError(`${stateFile} lacks ${missing.join(', ')}; ${start}`);
  const text = (key: string) => state[key] as string;
  const pid = typeof state.pid === 'number' ? state.pid : undefined;
  if (pid !== undefined && !(deps.isProcessAlive ?? isProcessAlive)(pid)) {
    throw new CliError(`the local pipeline of ${stateFile} (pid ${pid}) is not running any more; ${start}`);
  }
  const credentials = {
    accessKeyId: typeof state.AWS_ACCESS_KEY_ID === 'string' ? state.AWS_ACCESS_KEY_ID : 'local',
    secretAccessKey: typeof state.AWS_SECRET_ACCESS_KEY === 'string' ? state.AWS_SECRET_ACCESS_KEY : 'local',
  };
  const region = text('AWS_REGION');
  const sqs = new SQSClient({
    endpoint: text('AWS_ENDPOINT_URL_SQS'),
    region,
    credentials,
    useQueueUrlAsEndpoint: false,
  });
  const dynamodb = new DynamoDBClient({ endpoint: text('AWS_ENDPOINT_URL_DYNAMODB'), region, credentials });
  const windowHours = Number(state.IDEMPOTENCY_WINDOW_HOURS ?? DEFAULT_IDEMPOTENCY_WINDOW_HOURS);
  return makeTarget({
    kind: 'local',
    description: `the local pipeline${pid === undefined ? '' : ` (pid ${pid})`}`,
    sqs,
    dynamodb,
    queueUrl: text('QUEUE_URL'),
    deadLetterQueueUrl: text('DEAD_LETTER_QUEUE_URL'),
    tableName: text('OUTCOME_TABLE_NAME'),
    queueArn: undefined,
    deadLetterQueueArn: undefined,
    idempotencyWindowHours: Number.isFinite(windowHours) ? windowHours : DEFAULT_IDEMPOTENCY_WINDOW_HOURS,
    supportsMessageMoveTask: false,
    destroy() {
      sqs.destroy();
      dynamodb.destroy();
    },
  });
}

function makeTarget(
  parts: Omit<Target, 'queueArn' | 'deadLetterQueueArn'> & {
    queueArn: string | undefined;
    deadLetterQueueArn: string | undefined;
  },
): Target {
  const arnOf = async (known: string | undefined, what: 'queueUrl' | 'deadLetterQueueUrl') => {
    if (known !== undefined) return known;
    const queueUrl = need(parts, what);
    const { Attributes } = await parts.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    if (Attributes?.QueueArn === undefined) throw new CliError(`SQS returned no QueueArn for ${queueUrl}`);
    return Attributes.QueueArn;
  };
  return {
    ...parts,
    queueArn: () => arnOf(parts.queueArn, 'queueUrl'),
    deadLetterQueueArn: () => arnOf(parts.deadLetterQueueArn, 'deadLetterQueueUrl'),
  };
}

async function readStackOutputs(
  stackName: string,
  region: string | undefined,
  client: CloudFormationClient | undefined,
): Promise<Record<string, string>> {
  const cloudFormation = client ?? new CloudFormationClient({ ...regionOption(region) });
  try {
    const { Stacks = [] } = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs: Record<string, string> = {};
    for (const output of Stacks[0]?.Outputs ?? []) {
      if (output.OutputKey !== undefined && output.OutputValue !== undefined) {
        outputs[output.OutputKey] = output.OutputValue;
      }
    }
    return outputs;
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    if (/does not exist/i.test(message)) {
      const where = await cloudFormation.config.region().catch(() => region ?? 'the current region');
      throw new CliError(
        `stack ${stackName} not found in ${where}; give --stack or --stage (or --region, AWS_REGION)`,
        undefined,
        { cause: error },
      );
    }
    throw new CliError(`cannot read the outputs of stack ${stackName}: ${message}`, undefined, {
      cause: error,
    });
  } finally {
    if (client === undefined) cloudFormation.destroy();
  }
}

function regionOption(region: string | undefined): { region?: string } {
  return region === undefined ? {} : { region };
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
