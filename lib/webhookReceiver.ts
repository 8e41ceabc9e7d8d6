import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { Role } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import {
  Architecture,
  Code,
  type FunctionUrl,
  FunctionUrlAuthType,
  Function as LambdaFunction,
  Runtime,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import type { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { OutcomeTable } from '../functions/kycert-worker/constants.js';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../functions/kycert-worker/metricNames.js';
import { bundleDir } from './bundleDir.js';
import { InvalidSettingsError } from './errors.js';
import { functionLogsAndRole } from './functionLogsAndRole.js';
import { webhookReceiverPermissions } from './webhookReceiverPermissions.js';

/** How kycert's webhooks reach the stack; `enabled` creates the receiver. */
export interface WebhookSettings {
  /**
   * Create the receiver: a Function URL kycert is told to POST to, its signing secret, its function. Off by
   * default: kycert sends nothing until it is given the URL (docs/deploy.md, "Webhooks"), and until then
   * status checks alone follow the runs.
   * @default false
   */
  readonly enabled?: boolean;
  /** The header kycert's signature comes in: kycert's docs do not name it. @default 'kycert-signature' */
  readonly signatureHeaderName?: string;
  /** How far a signature's timestamp may be from now, in seconds. kycert's docs: 5 minutes. @default 300 */
  readonly toleranceSeconds?: number;
  /**
   * Concurrent executions reserved for (and capping) the receiver. The URL is public: a cap bounds what a
   * flood of forged POSTs can cost, at the price of room taken from the account's concurrency.
   * @default none reserved (a new account's limit of 10 has none to spare)
   */
  readonly reservedConcurrency?: number;
}

export const WebhookReceiverDefaults = {
  signatureHeaderName: 'kycert-signature',
  toleranceSeconds: 300,
  /** A secret read, a Query, a GetItem, a few UpdateItems and one PutEvents: well under a second; 10 s for retries. */
  timeout: Duration.seconds(10),
  memorySizeMb: 256,
} as const;

export interface WebhookReceiverProps {
  readonly settings: WebhookSettings;
  readonly table: ITable;
  readonly decisionEventBus: IEventBus;
  /** The `stage` dimension of its metrics and of the decision events. */
  readonly stageName: string;
  /** Described in the secret and the function. */
  readonly namePrefix: string;
  /** The worker's: a result the receiver records keeps the outcome item's lifetime. */
  readonly outcomeTtlDays: number;
  /** The customer-managed KMS key the API key secret uses; the webhook secret uses it too. @default none */
  readonly secretKmsKeyArn?: string | undefined;
  /** @default RetentionDays.THREE_MONTHS */
  readonly logRetention?: RetentionDays | undefined;
  /** The construct's `tracing`, as the worker's. @default Tracing.DISABLED */
  readonly tracing?: Tracing | undefined;
}

const HEADER_NAME = /^[A-Za-z0-9-]+$/;

/**
 * kycert's webhooks in (functions/kycert-webhook): a Lambda behind a Function URL, its signing secret and its
 * role. The URL's auth type is NONE on purpose: kycert cannot sign AWS requests, and every webhook carries an
 * HMAC signature over its body with a secret only kycert and this stack hold, checked before anything is
 * written (functions/kycert-webhook/webhookSignature.ts); a Function URL with AWS_IAM would refuse kycert.
 *
 * The secret is created with a random placeholder and retained, like the API key's: the operator puts the
 * `whsec_…` secret kycert gives (docs/deploy.md). Until then every webhook gets a 503, and kycert retries.
 */
export class WebhookReceiver extends Construct {
  public readonly lambdaFunction: LambdaFunction;
  public readonly functionUrl: FunctionUrl;
  public readonly secret: Secret;
  public readonly role: Role;
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: WebhookReceiverProps) {
    super(scope, id);
    const headerName = props.settings.signatureHeaderName ?? WebhookReceiverDefaults.signatureHeaderName;
    const toleranceSeconds = props.settings.toleranceSeconds ?? WebhookReceiverDefaults.toleranceSeconds;
    const problems: string[] = [];
    if (!HEADER_NAME.test(headerName)) {
      problems.push(
        `webhooks.signatureHeaderName must be a header name (letters, digits, "-"), got "${headerName}"`,
      );
    }
    if (!Number.isInteger(toleranceSeconds) || toleranceSeconds < 1 || toleranceSeconds > 3600) {
      problems.push(
        `webhooks.toleranceSeconds must be a whole number of seconds from 1 to 3600, got ${toleranceSeconds}`,
      );
    }
    const reserved = props.settings.reservedConcurrency;
    if (reserved !== undefined && (!Number.isInteger(reserved) || reserved < 1)) {
      problems.push(`webhooks.reservedConcurrency must be a whole number, 1 or more, got ${reserved}`);
    }
    if (problems.length > 0) throw new InvalidSettingsError(problems);

    this.secret = new Secret(this, 'Secret', {
      description:
        `kycert webhook signing secret for ${props.namePrefix}: kycert's whsec_… secret, ` +
        'or JSON {"secrets": ["whsec_new...", "whsec_old..."]} during a rotation',
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
      ...(props.secretKmsKeyArn === undefined
        ? {}
        : { encryptionKey: Key.fromKeyArn(this, 'SecretEncryptionKey', props.secretKmsKeyArn) }),
    });
    // Retained: a replacement would put a new placeholder where the operator put kycert's secret.
    this.secret.applyRemovalPolicy(RemovalPolicy.RETAIN);

    ({ logGroup: this.logGroup, role: this.role } = functionLogsAndRole(this, {
      roleDescription:
        'kycert-queue webhook receiver: its outcome table and index, its secret, the decision bus',
      logRetention: props.logRetention,
    }));

    this.lambdaFunction = new LambdaFunction(this, 'Function', {
      code: Code.fromAsset(bundleDir('kycert-webhook')),
      handler: 'index.handler',
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      timeout: WebhookReceiverDefaults.timeout,
      memorySize: WebhookReceiverDefaults.memorySizeMb,
      role: this.role,
      logGroup: this.logGroup,
      tracing: props.tracing ?? Tracing.DISABLED,
      ...(reserved === undefined ? {} : { reservedConcurrentExecutions: reserved }),
      description: 'kycert-queue: receives kycert webhooks, records run decisions',
      environment: {
        OUTCOME_TABLE_NAME: props.table.tableName,
        OUTCOME_TTL_DAYS: String(props.outcomeTtlDays),
        KYCERT_WEBHOOK_SECRET_ID: this.secret.secretArn,
        KYCERT_WEBHOOK_SIGNATURE_HEADER: headerName,
        KYCERT_WEBHOOK_TOLERANCE_SECONDS: String(toleranceSeconds),
        DECISION_EVENT_BUS_NAME: props.decisionEventBus.eventBusArn,
        KYCERT_QUEUE_STAGE: props.stageName,
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        NODE_OPTIONS: '--enable-source-maps',
      },
    });
    this.functionUrl = this.lambdaFunction.addFunctionUrl({ authType: FunctionUrlAuthType.NONE });

    for (const statement of webhookReceiverPermissions({
      tableArn: props.table.tableArn,
      runIdIndexName: OutcomeTable.runIdIndexName,
      webhookSecretArn: this.secret.secretArn,
      webhookSecretEncryptionKeyArn: props.secretKmsKeyArn,
      decisionEventBusArn: props.decisionEventBus.eventBusArn,
      region: Stack.of(this).region,
    })) {
      this.role.addToPolicy(statement);
    }
  }
}
