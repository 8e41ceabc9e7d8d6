import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { loadConfig } from './config.js';
import { createWorkerDeps } from './createWorkerDeps.js';
import { RetryLaterError } from './errors.js';
import { MetricName } from './metricNames.js';
import { type Invocation, processRecord, type WorkerDeps } from './processRecord.js';
import { processStatusCheck } from './processStatusCheck.js';

/**
 * The Lambda entry point: an SQS batch in, `batchItemFailures` out. One record's trouble never fails the
 * batch: each record succeeds (deleted by the event source) or is reported as a failure (it comes back
 * when its visibility timeout ends).
 */
export function createHandler(getDeps: () => WorkerDeps) {
  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const deps = getDeps();
    deps.logger.addContext(context); // request id, function name and cold start on every line
    const startedAtMs = deps.nowMs();
    const invocation: Invocation = {
      startedAtMs,
      deadlineMs: startedAtMs + context.getRemainingTimeInMillis(),
    };
    const checks = deps.statusChecks;
    const recordHandler = async (record: SQSRecord) => {
      try {
        // One function, two event sources: the producers' requests, and the runs' status checks.
        if (checks?.queue.holds(record.eventSourceARN) === true) {
          await processStatusCheck(record, deps, checks, invocation);
        } else {
          await processRecord(record, deps, invocation);
        }
      } catch (error) {
        if (!(error instanceof RetryLaterError)) {
          deps.logger.error('unexpected error; the record will be retried', {
            message_id: record.messageId,
            error: error as Error,
          });
          deps.metrics.addMetric(MetricName.unexpectedErrors, 'Count', 1);
        }
        throw error;
      }
    };
    try {
      // A processor per invocation: it holds per-batch state, and the local pipeline runs invocations concurrently.
      return await processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), {
        context,
        // A batch that is entirely retrying (a 429 storm) is an expected state, not a function error.
        throwOnFullBatchFailure: false,
      });
    } finally {
      // Powertools warns on an empty flush; a batch of leased copies records nothing, and that is fine.
      if (deps.metrics.hasStoredMetrics()) deps.metrics.publishStoredMetrics();
    }
  };
}

let deps: WorkerDeps | undefined;
export const handler = createHandler(() => {
  deps ??= createWorkerDeps(loadConfig());
  return deps;
});
