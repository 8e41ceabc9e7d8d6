import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type FunctionUrlHandler,
  type RunningFunctionUrl,
  startFunctionUrl,
} from '../local/aws/startFunctionUrl.js';

// The Function URL stand-in: real HTTP requests in, the payload 2.0 event the handler sees, its result back out.

const running: RunningFunctionUrl[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((url) => url.stop()));
});

async function serve(
  handler: FunctionUrlHandler,
  functionTimeoutSeconds?: number,
): Promise<RunningFunctionUrl> {
  const url = await startFunctionUrl({
    handler,
    ...(functionTimeoutSeconds === undefined ? {} : { functionTimeoutSeconds }),
  });
  running.push(url);
  return url;
}

describe('the event the handler gets', () => {
  it('is payload format 2.0: raw path and query, lowercased headers, cookies apart, the body as text', async () => {
    // Prepare
    const seen: APIGatewayProxyEventV2[] = [];
    const url = await serve((event) => {
      seen.push(event);
      return { statusCode: 204 };
    });

    // Act
    const response = await request(`${url.url}hooks/kycert?a=1&a=2&b=x`, {
      method: 'POST',
      headers: [
        ...['Content-Type', 'application/json; charset=utf-8'],
        ...['Kycert-Signature', 't=1,v1=ab'],
        ...['X-Repeated', 'one', 'X-Repeated', 'two'],
        ...['Cookie', 'session=1; theme=dark'],
      ],
      body: '{"id":"evt_1"}',
    });
    await response.body.dump();

    // Assess
    expect(response.statusCode).toBe(204);
    const [event] = seen as [APIGatewayProxyEventV2];
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/hooks/kycert',
      rawQueryString: 'a=1&a=2&b=x',
      queryStringParameters: { a: '1,2', b: 'x' },
      cookies: ['session=1', 'theme=dark'],
      body: '{"id":"evt_1"}',
      isBase64Encoded: false,
      requestContext: {
        accountId: 'anonymous',
        routeKey: '$default',
        stage: '$default',
        http: { method: 'POST', path: '/hooks/kycert', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' },
      },
    });
    expect(event.headers).toMatchObject({
      'content-type': 'application/json; charset=utf-8',
      'kycert-signature': 't=1,v1=ab',
      'x-repeated': 'one,two',
    });
    expect(event.headers).not.toHaveProperty('cookie');
    expect(event.requestContext.domainName).toMatch(/^[0-9a-f]{32}\.lambda-url\.us-east-1\.on\.aws$/);
    expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  });

  it('carries a body of another content type base64-encoded, byte for byte', async () => {
    const seen: APIGatewayProxyEventV2[] = [];
    const url = await serve((event) => {
      seen.push(event);
      return { statusCode: 200 };
    });
    const bytes = Buffer.from([0, 1, 2, 250, 255]);

    await (
      await request(url.url, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
      })
    ).body.dump();

    expect(seen[0]).toMatchObject({ isBase64Encoded: true, body: bytes.toString('base64') });
  });
});

describe('the answer', () => {
  it('is the handler’s status, headers, cookies and body, base64-decoded when it says so', async () => {
    const url = await serve(() => ({
      statusCode: 401,
      headers: { 'Content-Type': 'application/json', 'X-Reason': 'bad_signature' },
      cookies: ['a=1'],
      body: Buffer.from('{"error":"unauthorized"}').toString('base64'),
      isBase64Encoded: true,
    }));

    const response = await request(url.url, { method: 'POST', body: '{}' });

    expect(response.statusCode).toBe(401);
    expect(response.headers).toMatchObject({ 'x-reason': 'bad_signature', 'set-cookie': 'a=1' });
    expect(await response.body.json()).toEqual({ error: 'unauthorized' });
  });

  it('is a 200 with the value as JSON when the handler returns something else', async () => {
    const url = await serve(() => ({ received: true }));

    const response = await request(url.url, { method: 'POST', body: '{}' });

    expect(response.statusCode).toBe(200);
    expect(await response.body.json()).toEqual({ received: true });
  });

  it('is a 502 when the handler throws or outlives its timeout, as Lambda answers', async () => {
    const throwing = await serve(() => {
      throw new Error('boom');
    });
    const slow = await serve(() => new Promise((resolve) => setTimeout(resolve, 5_000)), 1);
    const original = console.error;
    console.error = () => {};
    try {
      const thrown = await request(throwing.url, { method: 'POST', body: '{}' });
      const timedOut = await request(slow.url, { method: 'POST', body: '{}' });

      expect([thrown.statusCode, timedOut.statusCode]).toEqual([502, 502]);
      await thrown.body.dump();
      await timedOut.body.dump();
      expect(throwing.stats()).toMatchObject({ invocations: 1, errors: 1 });
      expect(slow.stats()).toMatchObject({ invocations: 1, timeouts: 1 });
    } finally {
      console.error = original;
    }
  });

  it('gives the handler a Lambda context whose time runs out at the function timeout', async () => {
    let remainingMs = 0;
    const url = await serve((_event, context) => {
      remainingMs = context.getRemainingTimeInMillis();
      return { statusCode: 200 };
    }, 3);

    await (await request(url.url, { method: 'POST', body: '{}' })).body.dump();

    expect(remainingMs).toBeGreaterThan(2_500);
    expect(remainingMs).toBeLessThanOrEqual(3_000);
  });
});
