import { Duration } from 'aws-cdk-lib';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface RunQueuesProps {
  /** Receives of one message before SQS moves it to the DLQ by itself; `maxReceiveCountFor(maxAttempts)`. */
  readonly maxReceiveCount: number;
  /** At least 6 × the consumer function's timeout, AWS's guidance for Lambda event sources. */
  readonly visibilityTimeout: Duration;
  /**
   * How long the main queue keeps a message. It must outlast the worker's idempotency window, or a message
   * could expire while its retries are still scheduled.
   * @default 4 days
   */
  readonly retentionPeriod?: Duration;
}

/** The DLQ keeps a message as long as SQS allows, to give an operator time to look at it and redrive it. */
export const DEAD_LETTER_RETENTION = Duration.days(14);
export const DEFAULT_QUEUE_RETENTION = Duration.days(4);

/**
 * The requests queue and its DLQ. Both are encrypted at rest with SQS-managed keys (SSE-SQS) and refuse
 * requests that are not over TLS. SSE-SQS rather than a KMS key: producers in other accounts and services
 * can send without a key policy, and there is no per-request KMS cost; the messages' CPF/CNPJ are still
 * encrypted at rest.
 */
export class RunQueues extends Construct {
  public readonly queue: IQueue;
  public readonly deadLetterQueue: IQueue;

  constructor(scope: Construct, id: string, props: RunQueuesProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DEAD_LETTER_RETENTION,
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: props.retentionPeriod ?? DEFAULT_QUEUE_RETENTION,
      visibilityTimeout: props.visibilityTimeout,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
  }
}
