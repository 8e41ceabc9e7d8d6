/**
 * Regression tests for bugs found in functions/kycert-worker while writing the unit tests, each fixed since.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { secretsManagerApiKey, staticApiKey } from '../functions/kycert-worker/apiKeySource.js';
import { loadConfig } from '../functions/kycert-worker/config.js';
import { createWorkerDeps } from '../functions/kycert-worker/createWorkerDeps.js';
import { createHandler } from '../functions/kycert-worker/handler.js';
import { KycertClient } from '../functions/kycert-worker/kycertClient.js';
import { OutcomeStore } from '../functions/kycert-worker/outcomeStore.js';
import { createOutcomeTable } from '../local/aws/createOutcomeTable.js';
import { startDynamoDbEmulator } from '../local/aws/startDynamoDbEmulator.js';
import { captureOutput } from './support/capturedOutput.js';
import { runRequestFactory } from './support/runRequestFactory.js';
import { lambdaContextFactory, sqsEventFactory, sqsRecordFactory } from './support/sqsRecordFactory.js';

const NOW_MS = Date.parse('2026-11-23T12:00:00.000Z');
afterEach(() => vi.restoreAllMocks());

describe('fixed: runRequestMessage.ts: the JSON parser message quotes the body; a partial CPF reaches the DLQ detail', () => {
  it('a non-JSON body carrying a CPF leaves no CPF digits in the DLQ attributes', async () => {
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).resolves({});
    captureOutput();
    const deps = createWorkerDeps(
      loadConfig({
        KYCERT_API_KEY: 'sk_test',
        OUTCOME_TABLE_NAME: 't',
        QUEUE_URL: 'https://sqs.sa-east-1.amazonaws.com/1/q',
        DEAD_LETTER_QUEUE_URL: 'https://sqs.sa-east-1.amazonaws.com/1/d',
      }),
      {
        logger: new Logger({ serviceName: 'test' }),
        metrics: new Metrics({ namespace: 'T', serviceName: 'test' }),
        nowMs: () => NOW_MS,
      },
    );
    try {
      await createHandler(() => deps)(
        sqsEventFactory(sqsRecordFactory({ body: 'cpf=52998224725;template=tpl_onboarding_pf' })),
        lambdaContextFactory(),
      );
      const attributes = JSON.stringify(
        sqs.commandCalls(SendMessageCommand)[0]?.args[0].input.MessageAttributes,
      );
      // today: detail = `Unexpected token 'c', "cpf=529982"... is not valid JSON` (6 of the 11 digits)
      expect(attributes).not.toMatch(/529982/);
    } finally {
      await (deps.kycert as KycertClient).close();
      sqs.restore();
    }
  });
});

describe('fixed: outcomeStore.ts recordFailure(attempted: false): overwrites a failure that came from a real attempt', () => {
  it('an invalid copy of a key kycert already rejected neither overwrites the reason nor re-opens the key', async () => {
    const emulator = await startDynamoDbEmulator();
    const client = new DynamoDBClient({
      endpoint: emulator.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    try {
      await createOutcomeTable(client, 'outcomes');
      const store = new OutcomeStore({ client, tableName: 'outcomes', ttlSeconds: 86_400 });
      const request = runRequestFactory();
      const key = request.idempotencyKey;
      expect((await store.beginAttempt(request, { nowMs: NOW_MS, leaseUntilMs: NOW_MS + 60_000 })).kind).toBe(
        'started',
      );
      await store.recordFailure(key, {
        reason: 'kycert_rejected:insufficient_credits',
        attempted: true,
        httpStatus: 402,
        nowMs: NOW_MS + 1_000,
      });

      // A second, invalid copy under the same key (say, a mistyped CPF):
      const written = await store.recordFailure(key, {
        reason: 'invalid_message:subject.doc:invalid_check_digits',
        attempted: false,
        nowMs: NOW_MS + 2_000,
      });
      const item = await store.get(key);
      const again = await store.beginAttempt(request, {
        nowMs: NOW_MS + 3_000,
        leaseUntilMs: NOW_MS + 63_000,
      });

      expect.soft(written).toBe(false); // today: true
      expect.soft(item?.dead_letter_reason?.S).toBe('kycert_rejected:insufficient_credits'); // today: invalid_message:…
      expect.soft(again.kind).toBe('finished'); // today: started → a second POST under a key that already failed
    } finally {
      client.destroy();
      await emulator.stop();
    }
  });
});

describe('fixed: kycertClient.ts readText: chunk-wise decoding and a soft size limit', () => {
  async function serve(write: (res: import('node:http').ServerResponse) => void) {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => write(res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1` };
  }

  it('a multi-byte character split across two chunks is decoded intact', async () => {
    const body = Buffer.from(
      JSON.stringify({ error: { code: 'invalid_document', message: 'Documento inválido' } }),
    );
    const split = body.indexOf(0xc3) + 1; // between the two bytes of "á"
    const { server, baseUrl } = await serve((res) => {
      res.writeHead(422, { 'content-type': 'application/json' });
      res.write(body.subarray(0, split));
      setTimeout(() => res.end(body.subarray(split)), 50);
    });
    const client = new KycertClient({
      baseUrl,
      apiKey: staticApiKey('k'),
      connectTimeoutMs: 1000,
      timeoutMs: 5000,
    });
    try {
      const { result } = await client.createRun(runRequestFactory());
      expect(result).toMatchObject({ errorMessage: 'Documento inválido' }); // today: 'Documento inv\uFFFD\uFFFDlido'
    } finally {
      await client.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('an error body larger than 64 KiB is dropped, as the comment on MAX_BODY_BYTES says', async () => {
    const huge = JSON.stringify({ error: { code: 'too_big', message: 'x'.repeat(100 * 1024) } });
    const { server, baseUrl } = await serve((res) => {
      res.writeHead(500);
      res.end(huge);
    });
    const client = new KycertClient({
      baseUrl,
      apiKey: staticApiKey('k'),
      connectTimeoutMs: 1000,
      timeoutMs: 5000,
    });
    try {
      const { result } = await client.createRun(runRequestFactory());
      expect(result).not.toHaveProperty('errorCode'); // today: parsed whole (it arrived in one or two chunks)
    } finally {
      await client.close();
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('fixed: apiKeySource.ts extractApiKey: a malformed JSON secret puts part of the API key in the error', () => {
  it('the error does not quote the secret', async () => {
    const secretsManager = mockClient(SecretsManagerClient);
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: '{"api_key": sk_live_abcdef123}' });
    try {
      const error = await secretsManagerApiKey({ secretId: 's', maxAgeSeconds: 300 })
        .get()
        .catch((e: Error) => e);
      expect(String((error as Error).message)).not.toContain('sk_live'); // today: `… "api_key": sk_live_ab"… is not valid JSON`
    } finally {
      secretsManager.restore();
    }
  });
});
