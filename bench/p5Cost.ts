import type { BenchCounters } from './measuredPipeline.js';

/** DynamoDB commands that write an item: what the target's "writes" means (billed write units). */
const DYNAMODB_WRITES = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'BatchWriteItemCommand',
  'TransactWriteItemsCommand',
]);
/** SQS commands that change a queue (send, delete, visibility), counted apart from DynamoDB writes. */
const SQS_WRITES = new Set([
  'SendMessageCommand',
  'SendMessageBatchCommand',
  'DeleteMessageCommand',
  'DeleteMessageBatchCommand',
  'ChangeMessageVisibilityCommand',
  'ChangeMessageVisibilityBatchCommand',
]);

export interface CostPerSuccess {
  successes: number;
  /** Every AWS call the function made, per successful message. */
  callsPerSuccess: number;
  dynamodbWritesPerSuccess: number;
  sqsWritesPerSuccess: number;
  /** Reads (GetItem…) and anything else. */
  otherCallsPerSuccess: number;
  /** Command name → calls per successful message. */
  byCommand: Record<string, number>;
  /** ReceiveMessage and DeleteMessageBatch of the event source mapping: Lambda's calls, not the function's. */
  eventSourceCallsPerSuccess: { receiveMessage: number; deleteMessageBatch: number };
}

/** P5: the worker's AWS calls over a measured set, divided by the messages that succeeded in it. */
export function costPerSuccess(
  counters: Pick<BenchCounters, 'workerCalls' | 'eventSourceCalls'>,
  successes: number,
): CostPerSuccess {
  if (successes <= 0) throw new RangeError('cost per success needs at least one success');
  const per = (count: number) => count / successes;
  const entries = Object.entries(counters.workerCalls);
  const total = (filter: (command: string) => boolean) =>
    entries.filter(([command]) => filter(command)).reduce((sum, [, count]) => sum + count, 0);
  return {
    successes,
    callsPerSuccess: per(total(() => true)),
    dynamodbWritesPerSuccess: per(total((command) => DYNAMODB_WRITES.has(command))),
    sqsWritesPerSuccess: per(total((command) => SQS_WRITES.has(command))),
    otherCallsPerSuccess: per(total((command) => !DYNAMODB_WRITES.has(command) && !SQS_WRITES.has(command))),
    byCommand: Object.fromEntries(
      entries.sort(([a], [b]) => a.localeCompare(b)).map(([command, count]) => [command, per(count)]),
    ),
    eventSourceCallsPerSuccess: {
      receiveMessage: per(counters.eventSourceCalls.receiveMessage),
      deleteMessageBatch: per(counters.eventSourceCalls.deleteMessageBatch),
    },
  };
}
