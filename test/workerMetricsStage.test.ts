import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../functions/kycert-worker/config.js';
import { createWorkerDeps } from '../functions/kycert-worker/createWorkerDeps.js';
import { createHandler } from '../functions/kycert-worker/handler.js';
import { type CapturedOutput, captureOutput } from './support/capturedOutput.js';
import { lambdaContextFactory, sqsEventFactory, sqsRecordFactory } from './support/sqsRecordFactory.js';

/**
 * The `stage` dimension, with `service`, on every metric the worker emits, so that two stages in one
 * account never share a series (the alarms read `stage=<their stage>`). Asserted on the EMF documents
 * Powertools prints, which is what CloudWatch turns into metrics.
 */
const env = (stage?: string): NodeJS.ProcessEnv => ({
  KYCERT_API_KEY: 'sk_test_local',
  OUTCOME_TABLE_NAME: 'outcomes',
  QUEUE_URL: 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-queue-staging-requests',
  DEAD_LETTER_QUEUE_URL: 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-queue-staging-dlq',
  ...(stage === undefined ? {} : { KYCERT_QUEUE_STAGE: stage }),
});

interface EmfDocument {
  _aws: {
    CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }>;
  };
  [key: string]: unknown;
}
const emf = (output: CapturedOutput) => output.metrics() as unknown as EmfDocument[];
/** Each metric with the dimension sets it is published under, and the dimension values. */
const published = (output: CapturedOutput) =>
  emf(output).flatMap((document) =>
    document._aws.CloudWatchMetrics.flatMap((directive) =>
      directive.Metrics.map((metric) => ({
        namespace: directive.Namespace,
        name: metric.Name,
        dimensionSets: directive.Dimensions,
        values: Object.fromEntries(directive.Dimensions.flat().map((name) => [name, document[name]])),
      })),
    ),
  );

let output: CapturedOutput;
beforeEach(() => {
  output = captureOutput();
});
afterEach(() => vi.restoreAllMocks());

describe('worker metrics carry the stage', () => {
  it('buffered metrics: every dimension set has service and stage', () => {
    // Prepare
    const deps = createWorkerDeps(loadConfig(env('staging')));
    // Act
    deps.metrics.addMetric('Succeeded', MetricUnit.Count, 1);
    deps.metrics.publishStoredMetrics();
    // Assess
    expect(published(output)).toEqual([
      {
        namespace: 'KycertQueue',
        name: 'Succeeded',
        dimensionSets: [['service', 'stage']],
        values: { service: 'kycert-queue', stage: 'staging' },
      },
    ]);
  });

  it('singleMetric() inherits the default dimensions, so a per-reason metric keeps the stage', () => {
    // Prepare
    const deps = createWorkerDeps(loadConfig(env('staging')));
    // Act: the shape the worker uses for DeadLettered by reason
    const byReason = deps.metrics.singleMetric();
    byReason.addDimension('reason', 'retries_exhausted');
    byReason.addMetric('DeadLettered', MetricUnit.Count, 1);
    // Assess
    expect(published(output)).toEqual([
      {
        namespace: 'KycertQueue',
        name: 'DeadLettered',
        dimensionSets: [['service', 'stage', 'reason']],
        values: { service: 'kycert-queue', stage: 'staging', reason: 'retries_exhausted' },
      },
    ]);
  });

  it('without KYCERT_QUEUE_STAGE (local runs) the stage is "local"', () => {
    const deps = createWorkerDeps(loadConfig(env()));
    deps.metrics.addMetric('Succeeded', MetricUnit.Count, 1);
    deps.metrics.publishStoredMetrics();
    expect(published(output).map((metric) => metric.values.stage)).toEqual(['local']);
  });

  it('the real handler, dead-lettering an invalid message: both DeadLettered series carry the stage', async () => {
    // Prepare
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({ MessageId: 'dlq-1' });
    const deps = createWorkerDeps(loadConfig(env('staging')));
    const handler = createHandler(() => deps);
    try {
      // Act
      const response = await handler(
        sqsEventFactory(sqsRecordFactory({ body: 'not json' })),
        lambdaContextFactory(),
      );
      // Assess
      expect(response.batchItemFailures).toEqual([]);
      expect(sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
      const deadLettered = published(output).filter((metric) => metric.name === 'DeadLettered');
      expect(deadLettered).toHaveLength(2);
      for (const metric of deadLettered) {
        expect(metric.namespace).toBe('KycertQueue');
        expect(metric.dimensionSets.every((set) => set.includes('service') && set.includes('stage'))).toBe(
          true,
        );
        expect(metric.values).toMatchObject({ service: 'kycert-queue', stage: 'staging' });
      }
    } finally {
      sqs.restore();
    }
  });
});
