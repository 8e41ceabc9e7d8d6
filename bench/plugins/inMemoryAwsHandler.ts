import { createHash, randomUUID } from 'node:crypto';

/**
 * An SDK v3 request handler that answers DynamoDB and SQS in memory, so a client built with it runs its whole
 * middleware stack (serialise, sign, retry bookkeeping, parse) and only the network is left out. P1 measures
 * the handler's own cost this way: what the function would spend per message besides waiting for AWS.
 *
 * Answers are the success shapes the worker reads: `UpdateItem` with `ReturnValues: ALL_NEW` returns a fresh
 * claim (attempts 1), `SendMessage` a message id with the body's MD5 (the SQS client checks it), anything
 * else `{}`. Every call is counted by operation.
 */
export interface InMemoryAwsHandler {
  handle(request: InMemoryRequest): Promise<{ response: InMemoryResponse }>;
  updateHttpClientConfig(): void;
  httpHandlerConfigs(): Record<string, never>;
  destroy(): void;
  /** Operation name (`UpdateItem`, `ChangeMessageVisibility`…) → calls answered. */
  readonly calls: Map<string, number>;
}

interface InMemoryRequest {
  headers: Record<string, string>;
  body?: unknown;
}

interface InMemoryResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function createInMemoryAwsHandler(nowMs: () => number = Date.now): InMemoryAwsHandler {
  const calls = new Map<string, number>();
  return {
    calls,
    async handle(request) {
      const target = request.headers['x-amz-target'] ?? '';
      const operation = target.slice(target.indexOf('.') + 1);
      calls.set(operation, (calls.get(operation) ?? 0) + 1);
      const input = JSON.parse(bodyText(request.body) || '{}') as Record<string, unknown>;
      return { response: jsonResponse(answer(operation, input, nowMs)) };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
    destroy() {},
  };
}

function answer(operation: string, input: Record<string, unknown>, nowMs: () => number): unknown {
  switch (operation) {
    case 'UpdateItem':
      return input.ReturnValues === 'ALL_NEW'
        ? {
            Attributes: {
              idempotency_key: (input.Key as { idempotency_key: unknown }).idempotency_key,
              attempts: { N: '1' },
              first_attempt_at: { S: new Date(nowMs()).toISOString() },
            },
          }
        : {};
    case 'SendMessage':
      return {
        MessageId: randomUUID(),
        MD5OfMessageBody: createHash('md5')
          .update(String(input.MessageBody ?? ''))
          .digest('hex'),
      };
    default:
      return {};
  }
}

function bodyText(body: unknown): string {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return decoder.decode(body);
  throw new TypeError(`unexpected request body of type ${typeof body}`);
}

function jsonResponse(value: unknown): InMemoryResponse {
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/x-amz-json-1.0' },
    body: encoder.encode(JSON.stringify(value)),
  };
}
