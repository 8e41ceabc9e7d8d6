import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { type IQueue, Queue, QueueEncryption, RedrivePermission } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface RunQueuesProps {
  /**
   * Name of the requests queue. It is fixed, not generated, because the DLQ's redrive-allow policy must name
   * the queue's ARN, and a generated ARN would make the two queues depend on each other (CloudFormation
   * refuses the cycle). The alarms and dashboard already make `kycert-queue-<stage>` unique per account
   * and region.
   */
  readonly queueName: string;
  /** Receives of one message before SQS moves it to the DLQ by itself; REDRIVE_MAX_RECEIVE_COUNT (constants.ts). */
  readonly maxReceiveCount: number;
  /** At least 6 × the consumer function's timeout, AWS's guidance for Lambda event sources. */
  readonly visibilityTimeout: Duration;
  /**
   * How long the main queue keeps a message. It must outlast the worker's idempotency window, or a message
   * could expire while its retries are still scheduled.
   * @default 4 days
   */
  readonly retentionPeriod?: Duration;
  /**
   * Name of the status checks' queue, when accepted runs are followed to their decision; fixed for the same
   * reason as `queueName`. @default none: no status checks queue
   */
  readonly statusCheckQueueName?: string | undefined;
}

/** The DLQ keeps a message as long as SQS allows, to give an operator time to look at it and redrive it. */
export const DEAD_LETTER_RETENTION = Duration.days(14);
export const DEFAULT_QUEUE_RETENTION = Duration.days(4);
/**
 * A status check message lives until its run is decided or overdue (24 h by default, 72 h at most), each
 * receive ending in a visibility change; four days leave the operator a weekend to notice a worker that
 * fails every check before SQS would move the message to the checks' DLQ.
 */
export const STATUS_CHECK_QUEUE_RETENTION = Duration.days(4);
/**
 * SQS's highest `maxReceiveCount`. A check is received once per interval (doubling from seconds to 15 min,
 * so about 100 receives in 24 h) plus once per wait for the rate budget; only a worker failing on every
 * receive comes near 1000, and its messages then wait in the checks' DLQ with their run ids.
 */
export const STATUS_CHECK_MAX_RECEIVE_COUNT = 1000;

/**
 * The requests queue accepts 64 KiB, four times the 16 KiB the message schema allows, so that an oversized
 * body still arrives and is dead-lettered with the reason `invalid_message:body:too_large`.
 */
export const QUEUE_MAX_MESSAGE_SIZE_BYTES = 64 * 1024;
/**
 * The DLQ accepts 256 KiB: the worker's copy of a message is its body plus the reason attributes, and SQS
 * counts attributes in the size, so the DLQ must take more than the requests queue does or a body at the
 * limit could never be dead-lettered with its reason.
 */
export const DEAD_LETTER_MAX_MESSAGE_SIZE_BYTES = 256 * 1024;

/**
 * The requests queue and its DLQ. Both are encrypted at rest with SQS-managed keys (SSE-SQS) and refuse
 * requests that are not over TLS. SSE-SQS rather than a KMS key: producers in other accounts and services
 * can send without a key policy, and there is no per-request KMS cost; the messages' CPF/CNPJ are still
 * encrypted at rest. The DLQ's redrive-allow policy lets only the requests queue use it as a DLQ.
 */
export class RunQueues extends Construct {
  public readonly queue: IQueue;
  public readonly deadLetterQueue: IQueue;
  /** The status checks' own queue (functions/kycert-worker/statusCheckQueue.ts), and its DLQ. */
  public readonly statusCheckQueue: IQueue | undefined;
  public readonly statusCheckDeadLetterQueue: IQueue | undefined;

  constructor(scope: Construct, id: string, props: RunQueuesProps) {
    super(scope, id);
    const queueArn = Stack.of(this).formatArn({
      service: 'sqs',
      resource: props.queueName,
      arnFormat: ArnFormat.NO_RESOURCE_NAME,
    });
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DEAD_LETTER_RETENTION,
      maxMessageSizeBytes: DEAD_LETTER_MAX_MESSAGE_SIZE_BYTES,
      redriveAllowPolicy: {
        redrivePermission: RedrivePermission.BY_QUEUE,
        sourceQueues: [Queue.fromQueueArn(this, 'SourceQueue', queueArn)],
      },
    });
    this.queue = new Queue(this, 'Queue', {
      queueName: props.queueName,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: props.retentionPeriod ?? DEFAULT_QUEUE_RETENTION,
      visibilityTimeout: props.visibilityTimeout,
      maxMessageSizeBytes: QUEUE_MAX_MESSAGE_SIZE_BYTES,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
    if (props.statusCheckQueueName !== undefined) {
      // Its own DLQ: a check message is the worker's state (a run id and a key), not a producer's request,
      // and must not show in the requests' DLQ or be redriven into the requests queue.
      const checkQueueArn = Stack.of(this).formatArn({
        service: 'sqs',
        resource: props.statusCheckQueueName,
        arnFormat: ArnFormat.NO_RESOURCE_NAME,
      });
      this.statusCheckDeadLetterQueue = new Queue(this, 'StatusCheckDeadLetterQueue', {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: DEAD_LETTER_RETENTION,
        redriveAllowPolicy: {
          redrivePermission: RedrivePermission.BY_QUEUE,
          sourceQueues: [Queue.fromQueueArn(this, 'StatusCheckSourceQueue', checkQueueArn)],
        },
      });
      this.statusCheckQueue = new Queue(this, 'StatusCheckQueue', {
        queueName: props.statusCheckQueueName,
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: STATUS_CHECK_QUEUE_RETENTION,
        // The same rule as the requests queue's: Lambda's event source needs at least the function timeout.
        visibilityTimeout: props.visibilityTimeout,
        deadLetterQueue: {
          queue: this.statusCheckDeadLetterQueue,
          maxReceiveCount: STATUS_CHECK_MAX_RECEIVE_COUNT,
        },
      });
    }
  }
}
