import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { startLocalPipeline } from '../local/pipeline/startLocalPipeline.js';

// Bench P3 runs 80d7c5d's worker against the redrive its stack had (15 receives); the pipeline passes it on.
describe('startLocalPipeline maxReceiveCount', () => {
  it('sets the main queue redrive and tells the worker the same number', async () => {
    // Prepare
    const pipeline = await startLocalPipeline({
      kycert: { baseUrl: 'http://127.0.0.1:9', apiKey: 'sk_test_unused' },
      maxAttempts: 12,
      maxReceiveCount: 15,
      workerOutput: 'ignore',
    });
    try {
      // Act
      const { Attributes } = await pipeline.aws.clients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: pipeline.aws.queueUrl, AttributeNames: ['RedrivePolicy'] }),
      );
      // Assess
      expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toMatchObject({ maxReceiveCount: 15 });
      expect(pipeline.workerEnv.MAX_RECEIVE_COUNT).toBe('15');
      expect(pipeline.workerEnv.MAX_ATTEMPTS).toBe('12');
    } finally {
      await pipeline.stop();
    }
  });
});
