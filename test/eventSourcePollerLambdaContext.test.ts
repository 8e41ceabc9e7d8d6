import { describe, expect, it } from 'vitest';
import { createLambdaContext } from '../local/aws/createLambdaContext.js';

describe('createLambdaContext', () => {
  it('counts the remaining time down from the function timeout, never below zero', () => {
    // Prepare
    let nowMs = Date.UTC(2026, 0, 2, 3, 4, 5);
    const context = createLambdaContext({
      functionName: 'kycert-worker',
      functionTimeoutSeconds: 30,
      region: 'sa-east-1',
      memorySizeMb: 512,
      nowMs: () => nowMs,
    });

    // Act
    const atStartMs = context.getRemainingTimeInMillis();
    nowMs += 29_250;
    const nearEndMs = context.getRemainingTimeInMillis();
    nowMs += 5_000;
    const afterEndMs = context.getRemainingTimeInMillis();

    // Assess
    expect([atStartMs, nearEndMs, afterEndMs]).toEqual([30_000, 750, 0]);
    expect(context).toMatchObject({
      functionName: 'kycert-worker',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:sa-east-1:000000000000:function:kycert-worker',
      memoryLimitInMB: '512',
      logGroupName: '/aws/lambda/kycert-worker',
      logStreamName: expect.stringMatching(/^2026\/01\/02\/\[\$LATEST\][0-9a-f]{32}$/),
      callbackWaitsForEmptyEventLoop: true,
    });
  });

  it('gives every invocation its own request id', () => {
    // Act
    const ids = new Set(
      Array.from(
        { length: 3 },
        () =>
          createLambdaContext({ functionName: 'f', functionTimeoutSeconds: 1, region: 'us-east-1' })
            .awsRequestId,
      ),
    );

    // Assess
    expect(ids.size).toBe(3);
  });

  it('refuses the callback-era done(), pointing at promises', () => {
    // Prepare
    const context = createLambdaContext({
      functionName: 'f',
      functionTimeoutSeconds: 1,
      region: 'us-east-1',
    });

    // Act
    const done = () => context.done();

    // Assess
    expect(done).toThrow('context.done() is not supported: return a promise from the handler instead');
  });
});
