import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server on 127.0.0.1 (port 0) standing in for kycert's `POST /bureau/runs`. Each test scripts
 * what it answers; every request it receives is kept, body included, so tests can compare bytes.
 */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Reply =
  /** An HTTP answer; an object body is sent as JSON, a string body as is. */
  | { status: number; headers?: Record<string, string>; body?: unknown }
  /** Reads the request, then resets the TCP connection (the client sees a network error). */
  | { reset: true }
  /** Reads the request and never answers (the client's timeout must fire). */
  | { hang: true };

export type Script = (request: ReceivedRequest, index: number) => Reply;

export interface FakeKycert {
  /** e.g. `http://127.0.0.1:40123/api/v1`: what the worker's `KYCERT_BASE_URL` points at. */
  readonly baseUrl: string;
  /** Every request received since the last `reset()`, in order. */
  readonly requests: ReceivedRequest[];
  /** Answers the next requests with these replies, in order. */
  reply(...replies: Reply[]): void;
  /** Answers every request with what `script` returns (for answers that depend on the request). */
  script(script: Script): void;
  /** Forgets the received requests and the script. */
  reset(): void;
  close(): Promise<void>;
}

export const RUNS_PATH = '/api/v1/bureau/runs';

/** A reply for a request nobody scripted: loud enough to fail the test that forgot it. */
const UNSCRIPTED: Reply = {
  status: 500,
  body: { error: { code: 'fake_kycert_unscripted', message: 'the test did not script this request' } },
};

export async function startFakeKycert(): Promise<FakeKycert> {
  const requests: ReceivedRequest[] = [];
  let script: Script = () => UNSCRIPTED;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(received);
      answer(res, script(received, requests.length - 1));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/api/v1`,
    requests,
    reply(...replies) {
      script = (_request, index) => replies[index] ?? UNSCRIPTED;
    },
    script(next) {
      script = next;
    },
    reset() {
      requests.length = 0;
      script = () => UNSCRIPTED;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

function answer(res: ServerResponse, reply: Reply): void {
  if ('reset' in reply) {
    res.socket?.resetAndDestroy();
    return;
  }
  if ('hang' in reply) return;
  const body =
    reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...(typeof reply.body === 'object' ? { 'content-type': 'application/json' } : {}),
    ...reply.headers,
  });
  res.end(body);
}

/** kycert's answer to a new run: `202 Accepted` with the run's id. */
export function accepted(runId: string): Reply {
  return { status: 202, body: { run_id: runId, status: 'queued' } };
}

/** kycert's answer to a known key: the original run, replayed with `200 OK`. */
export function replayed(runId: string): Reply {
  return { status: 200, body: { run_id: runId, status: 'completed' } };
}

/** kycert's error envelope: `{ "error": { "code", "message" } }`. */
export function kycertError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Reply {
  return { status, headers, body: { error: { code, message } } };
}
