import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_STAGE, STAGE_NAME_PATTERN, stackNameFor } from '../lib/stackName.js';
import { StackOutputs } from '../lib/stackOutputs.js';
import { CliError, UsageError } from './errors.js';

/**
 * Where `npm start` says how to reach the running local pipeline (see local/start.ts), relative to the
 * repository; `--local` looks for it in the working directory and each directory above.
 */
export const DEFAULT_LOCAL_STATE_FILE = '.local-data/pipeline.json';
/** Names another state file, for `npm start` and `--local` alike (a second pipeline's own). */
export const LOCAL_STATE_ENV_VARIABLE = 'KYCERT_QUEUE_LOCAL_STATE';

/** Environment variable naming the stack when neither `--stack` nor `--stage` is given. */
export const STACK_ENV_VARIABLE = 'KYCERT_QUEUE_STACK';

/** The worker's default (README, "Configuration"); the local pipeline's state file may say otherwise. */
const DEFAULT_IDEMPOTENCY_WINDOW_HOURS = 22;

export interface TargetOptions {
  stack?: string | undefined;
  stage?: string | undefined;
  region?: string | undefined;
  /** A profile of the shared AWS config and credentials files. */
  profile?: string | undefined;
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
  /** What the user should know about where requests go (an endpoint derived from a queue URL…). */
  readonly notes: readonly string[];
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
  /** Where `--local` starts looking for the state file. @default process.cwd() */
  cwd?: string;
}

/**
 * One of three targets:
 * - `--local`: the pipeline `npm start -- --keep-running` runs, from its state file;
 * - `--queue-url` / `--dlq-url` / `--table`: those resources, with the standard AWS_ENDPOINT_URL_* overrides;
 *   a queue URL on a host that is not AWS's (LocalStack, an emulator) is where SQS requests go;
 * - otherwise a deployed stack, by `--stack`, `--stage`, $KYCERT_QUEUE_STACK or the default stage's
 *   `kycert-queue-dev`, its resources read from its outputs, the region and credentials from the standard
 *   chain (or `--region`, `--profile`).
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
    if (options.region !== undefined || options.profile !== undefined) {
      throw new UsageError('--local uses the local emulators: --region and --profile do not apply');
    }
    const given = options.localState ?? env[LOCAL_STATE_ENV_VARIABLE];
    return given === undefined
      ? localTarget(findLocalStateFile(deps), deps, ', nor in a directory above')
      : localTarget(given, deps, '');
  }
  if (options.localState !== undefined) throw new UsageError('--local-state needs --local');

  const stackName =
    options.stack ??
    (options.stage !== undefined ? stackNameFor(options.stage) : undefined) ??
    (anyExplicit ? undefined : (env[STACK_ENV_VARIABLE] ?? stackNameFor(DEFAULT_STAGE)));
  const endpoints = endpointsForQueueUrls(
    [explicit.queueUrl, explicit.deadLetterQueueUrl].filter((url) => url !== undefined),
    { env, tableGiven: explicit.tableName !== undefined },
  );
  const clientOptions = { ...regionOption(options.region), ...profileOption(options.profile) };
  const sqs = new SQSClient({
    ...clientOptions,
    ...(endpoints.sqs === undefined ? {} : { endpoint: endpoints.sqs }),
    useQueueUrlAsEndpoint: false,
  });
  const dynamodb = new DynamoDBClient({
    ...clientOptions,
    ...(endpoints.dynamodb === undefined ? {} : { endpoint: endpoints.dynamodb }),
  });
  const destroy = () => {
    sqs.destroy();
    dynamodb.destroy();
  };
  try {
    const outputs =
      stackName === undefined ? {} : await readStackOutputs(stackName, clientOptions, deps.cloudFormation);
    const region = await sqs.config.region().catch(() => options.region ?? '(no region)');
    const where = [region, ...(options.profile === undefined ? [] : [`profile ${options.profile}`])].join(
      ', ',
    );
    return makeTarget({
      kind: stackName === undefined ? 'explicit' : 'stack',
      description:
        stackName === undefined
          ? `${describeExplicit(explicit, endpoints)} (${where})`
          : `stack ${stackName} (${where})`,
      notes: endpoints.notes,
      sqs,
      dynamodb,
      queueUrl: explicit.queueUrl ?? outputs[StackOutputs.queueUrl],
      deadLetterQueueUrl: explicit.deadLetterQueueUrl ?? outputs[StackOutputs.deadLetterQueueUrl],
      tableName: explicit.tableName ?? outputs[StackOutputs.outcomeTableName],
      queueArn: explicit.queueUrl === undefined ? outputs[StackOutputs.queueArn] : undefined,
      deadLetterQueueArn:
        explicit.deadLetterQueueUrl === undefined ? outputs[StackOutputs.deadLetterQueueArn] : undefined,
      idempotencyWindowHours: DEFAULT_IDEMPOTENCY_WINDOW_HOURS,
      supportsMessageMoveTask:
        endpoints.onAws && env.AWS_ENDPOINT_URL_SQS === undefined && env.AWS_ENDPOINT_URL === undefined,
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

function localTarget(stateFile: string, deps: ResolveTargetDeps, searched: string): Target {
  const start = 'start it with `npm start -- --keep-running`';
  let state: Record<string, unknown>;
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `no local pipeline is running (${stateFile} not found${searched}); ${start}`
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
    notes: [],
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
  clientOptions: { region?: string; profile?: string },
  client: CloudFormationClient | undefined,
): Promise<Record<string, string>> {
  const { region } = clientOptions;
  const cloudFormation = client ?? new CloudFormationClient(clientOptions);
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

function profileOption(profile: string | undefined): { profile?: string } {
  return profile === undefined ? {} : { profile };
}

/** AWS's own service hosts: `sqs.<region>.amazonaws.com`, `….amazonaws.com.cn`, the dual-stack `….api.aws`. */
const AWS_HOST = /(^|\.)(amazonaws\.com(\.cn)?|api\.aws)$/;

export interface QueueUrlEndpoints {
  /** The given queue URLs are on AWS's hosts (or none was given). */
  onAws: boolean;
  /** The SQS endpoint to use instead of AWS's: the queue URLs' own host, unless the environment names one. */
  sqs?: string;
  /** With a non-AWS queue URL and `--table`: the same host (LocalStack serves every service on one). */
  dynamodb?: string;
  notes: string[];
}

/**
 * Where requests go when queue URLs are given by hand. A URL on a host that is not AWS's (LocalStack, an
 * emulator) must not have its queue's name looked up at AWS: the endpoint comes from the URL, unless
 * AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL (or _DYNAMODB) say otherwise, and the notes say which.
 * `*.localhost` names loopback (RFC 6761), which Node's resolver does not know: it becomes `localhost`.
 */
export function endpointsForQueueUrls(
  queueUrls: readonly string[],
  context: { env: NodeJS.ProcessEnv; tableGiven: boolean },
): QueueUrlEndpoints {
  const urls = queueUrls.map((text) => {
    const url = URL.parse(text);
    if (url === null || !['http:', 'https:'].includes(url.protocol)) {
      throw new UsageError(`a queue URL must be an http(s) URL, got "${text}"`);
    }
    return url;
  });
  const foreign = urls.filter((url) => !AWS_HOST.test(url.hostname));
  if (foreign.length === 0) return { onAws: true, notes: [] };
  const origins = [...new Set(urls.map((url) => url.origin))];
  if (origins.length > 1) {
    throw new UsageError(
      `--queue-url and --dlq-url are on different hosts (${origins.join(', ')}): give the queues of one SQS endpoint`,
    );
  }
  const url = foreign[0] as URL;
  const endpoint = new URL(url.origin);
  if (endpoint.hostname.endsWith('.localhost')) endpoint.hostname = 'localhost';
  const origin = endpoint.origin;
  const { env } = context;
  const notes: string[] = [];
  const result: QueueUrlEndpoints = { onAws: false, notes };
  const sqsFromEnv = env.AWS_ENDPOINT_URL_SQS ?? env.AWS_ENDPOINT_URL;
  if (sqsFromEnv === undefined) {
    result.sqs = origin;
    notes.push(
      `${url.host} is not an AWS host: SQS requests go to ${origin} (AWS_ENDPOINT_URL_SQS names another endpoint)`,
    );
  } else {
    notes.push(`${url.host} is not an AWS host: SQS requests go to ${sqsFromEnv}, from the environment`);
  }
  if (context.tableGiven) {
    const dynamodbFromEnv = env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL;
    if (dynamodbFromEnv === undefined) {
      result.dynamodb = origin;
      notes.push(
        `DynamoDB requests go to the same endpoint, ${origin}, as on LocalStack (AWS_ENDPOINT_URL_DYNAMODB names another)`,
      );
    }
  }
  return result;
}

function describeExplicit(
  explicit: {
    queueUrl?: string | undefined;
    deadLetterQueueUrl?: string | undefined;
    tableName?: string | undefined;
  },
  endpoints: QueueUrlEndpoints,
): string {
  const parts = [
    explicit.queueUrl === undefined ? undefined : `queue ${explicit.queueUrl}`,
    explicit.deadLetterQueueUrl === undefined ? undefined : `DLQ ${explicit.deadLetterQueueUrl}`,
    explicit.tableName === undefined ? undefined : `table ${explicit.tableName}`,
  ].filter((part) => part !== undefined);
  return `${parts.join(', ')}${endpoints.onAws ? '' : ' (not AWS)'}`;
}

/** `.local-data/pipeline.json` in the working directory or the nearest directory above that has one. */
function findLocalStateFile(deps: ResolveTargetDeps): string {
  const start = resolve(deps.cwd ?? process.cwd());
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, DEFAULT_LOCAL_STATE_FILE);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return join(start, DEFAULT_LOCAL_STATE_FILE);
  }
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
