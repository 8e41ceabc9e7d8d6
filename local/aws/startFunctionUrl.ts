import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { readRequestBody } from '../http/readRequestBody.js';
import { createLambdaContext } from './createLambdaContext.js';
import { PortUnavailableError } from './errors.js';
import { invokeWithTimeout } from './invokeWithTimeout.js';
import { listenErrorCode } from './listenErrorCode.js';

/** A Lambda handler behind a Function URL: payload format 2.0 in, a result (or any value) out. */
export type FunctionUrlHandler = (event: APIGatewayProxyEventV2, context: Context) => unknown;

export interface FunctionUrlOptions {
  readonly handler: FunctionUrlHandler;
  /** Lambda's function timeout: a handler still running then gets the caller a 502. @default 10 s */
  readonly functionTimeoutSeconds?: number;
  /** @default 'kycert-webhook' */
  readonly functionName?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default 0 (any free port) */
  readonly port?: number;
}

export interface RunningFunctionUrl {
  /** e.g. `http://127.0.0.1:40123/`: what kycert (the sandbox) is told to POST to. */
  readonly url: string;
  readonly port: number;
  /** Invocations so far, and how they ended. */
  stats(): { invocations: number; errors: number; timeouts: number; tooLarge: number };
  /** Stops listening; invocations in flight are answered first. Safe to call twice. */
  stop(): Promise<void>;
}

/** Lambda's synchronous invocation payload limit, which a Function URL request cannot exceed. */
const MAX_REQUEST_BYTES = 6 * 1024 * 1024;
/** Content types Lambda passes as text; any other body comes base64-encoded with `isBase64Encoded: true`. */
const TEXT_CONTENT_TYPE =
  /^(text\/|application\/(json|javascript|xml|x-www-form-urlencoded)\b|[^;]*\+(json|xml)\b)/i;

/**
 * A Lambda Function URL in front of a handler, on loopback: each HTTP request becomes one invocation with the
 * payload format 2.0 event (`rawPath`, `rawQueryString`, lowercased `headers` with repeated ones joined by
 * commas, `cookies`, `requestContext.http`, `body` as text or base64) and a fresh Lambda context; the result is
 * turned back into HTTP as Lambda does: an object with `statusCode` gives its status, headers, cookies and body
 * (base64-decoded when `isBase64Encoded`); any other value is a 200 with that value as JSON. A handler that
 * throws or outlives its timeout gets the caller a 502, as Lambda's does. Auth type NONE: no SigV4 is checked
 * (the receiver authenticates by its signature), as the stack deploys it.
 */
export async function startFunctionUrl(options: FunctionUrlOptions): Promise<RunningFunctionUrl> {
  const host = '127.0.0.1';
  const timeoutSeconds = options.functionTimeoutSeconds ?? 10;
  const functionName = options.functionName ?? 'kycert-webhook';
  const region = options.region ?? 'us-east-1';
  const counters = { invocations: 0, errors: 0, timeouts: 0, tooLarge: 0 };
  const urlId = randomUUID().replaceAll('-', '').slice(0, 32);

  const server = createServer((req, res) => {
    serve(req, res).catch((error: unknown) => {
      console.error(`Function URL for ${functionName}: unexpected error`, error);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { body, tooLarge } = await readRequestBody(req, MAX_REQUEST_BYTES);
    if (tooLarge) {
      counters.tooLarge += 1;
      sendJson(res, 413, {
        Message: 'Request must be smaller than 6291456 bytes for the InvokeFunction operation',
      });
      return;
    }
    const event = toEvent(req, body, { host, urlId, region });
    const context = createLambdaContext({ functionName, functionTimeoutSeconds: timeoutSeconds, region });
    counters.invocations += 1;
    const outcome = await invokeWithTimeout(() => options.handler(event, context), timeoutSeconds * 1000);
    if (outcome.kind === 'returned') {
      sendResult(res, outcome.response);
      return;
    }
    if (outcome.kind === 'threw') {
      counters.errors += 1;
      console.error(`Function URL for ${functionName}: the handler threw`, outcome.error);
    } else {
      counters.timeouts += 1;
    }
    sendJson(res, 502, { Message: 'Internal Server Error' });
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    throw new PortUnavailableError('Function URL', host, options.port ?? 0, {
      cause: error,
      code: listenErrorCode(error),
    });
  }
  const { port } = server.address() as AddressInfo;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}/`,
    port,
    stats: () => ({ ...counters }),
    stop() {
      stopping ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      });
      return stopping;
    },
  };
}

function toEvent(
  req: IncomingMessage,
  body: Buffer,
  where: { host: string; urlId: string; region: string },
): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', `http://${where.host}`);
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] as string).toLowerCase();
    const value = req.rawHeaders[i + 1] as string;
    if (name === 'cookie') {
      cookies.push(...value.split(';').map((cookie) => cookie.trim()));
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  const asText = body.length === 0 || TEXT_CONTENT_TYPE.test(headers['content-type'] ?? '');
  const now = new Date();
  const domainName = `${where.urlId}.lambda-url.${where.region}.on.aws`;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies.length === 0 ? {} : { cookies }),
    headers,
    ...(Object.keys(query).length === 0 ? {} : { queryStringParameters: query }),
    requestContext: {
      accountId: 'anonymous',
      apiId: where.urlId,
      domainName,
      domainPrefix: where.urlId,
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: clfTime(now),
      timeEpoch: now.getTime(),
    },
    ...(body.length === 0 ? {} : { body: asText ? body.toString('utf8') : body.toString('base64') }),
    isBase64Encoded: !asText,
  };
}

function sendResult(res: ServerResponse, result: unknown): void {
  // Lambda infers a 200 for anything that is not a response object: a string is the body, the rest JSON.
  if (typeof result === 'string') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(result);
    return;
  }
  if (typeof result !== 'object' || result === null || !('statusCode' in result)) {
    sendJson(res, 200, result ?? null);
    return;
  }
  const response = result as {
    statusCode: number;
    headers?: Record<string, string | number | boolean>;
    cookies?: string[];
    body?: string;
    isBase64Encoded?: boolean;
  };
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(response.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  if (response.cookies !== undefined && response.cookies.length > 0) headers['set-cookie'] = response.cookies;
  const body =
    response.body === undefined
      ? ''
      : response.isBase64Encoded
        ? Buffer.from(response.body, 'base64')
        : response.body;
  res.writeHead(response.statusCode, headers).end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** `12/Mar/2020:19:03:58 +0000`, as `requestContext.time` writes it. */
function clfTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}
