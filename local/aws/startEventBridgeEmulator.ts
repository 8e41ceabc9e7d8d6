import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readRequestBody } from '../http/readRequestBody.js';
import { PortUnavailableError } from './errors.js';
import { listenErrorCode } from './listenErrorCode.js';
import type { RunningEmulator } from './RunningEmulator.js';

/** An event as the emulator received it, in order of arrival. */
export interface ReceivedEvent {
  /** The id PutEvents answered with. */
  eventId: string;
  /** The bus's name (an ARN given as `EventBusName` is reduced to its name). */
  busName: string;
  source: string;
  detailType: string;
  /** The `Detail` JSON, parsed. */
  detail: unknown;
  /** The entry's `Time`, or when it arrived: ISO-8601. */
  time: string;
  resources: string[];
}

/** What one entry is answered with instead of an event id (a fault for the publisher's tests). */
export interface EntryFailure {
  errorCode: string;
  errorMessage: string;
}

export interface EventBridgeEmulator extends RunningEmulator {
  /** Every event accepted so far; a copy. */
  events(): ReceivedEvent[];
  /** Refuses, from now on, each entry for which `fail` returns a failure; `undefined` accepts all again. */
  setEntryFailure(
    fail: ((entry: Omit<ReceivedEvent, 'eventId'>) => EntryFailure | undefined) | undefined,
  ): void;
}

export interface EventBridgeEmulatorOptions {
  /** @default 0 (any free port) */
  readonly port?: number;
}

/** PutEvents' own limits (AWS: 1–10 entries per call, 256 KiB per call). */
const MAX_ENTRIES = 10;
const MAX_REQUEST_BYTES = 256 * 1024;
const TARGET_PREFIX = 'AWSEvents.';

/**
 * EventBridge's `PutEvents`, on loopback: enough of the AWS JSON 1.1 protocol for `@aws-sdk/client-eventbridge`
 * pointed at it (`endpoint`, or `AWS_ENDPOINT_URL_EVENTBRIDGE` in a worker's environment). It keeps the events,
 * for the local pipeline's summary and report; it routes them nowhere (no rules, no targets). Any bus name is
 * accepted. Entries are checked as PutEvents checks them: `Source`, `DetailType` and `Detail` present
 * (`InvalidArgument`), `Detail` a JSON object (`MalformedDetail`); 1–10 entries a call (`ValidationException`).
 * Requests are not authenticated: the emulator is for this machine only.
 */
export async function startEventBridgeEmulator(
  options: EventBridgeEmulatorOptions = {},
): Promise<EventBridgeEmulator> {
  const host = '127.0.0.1';
  const requestedPort = options.port ?? 0;
  const events: ReceivedEvent[] = [];
  let entryFailure: Parameters<EventBridgeEmulator['setEntryFailure']>[0];

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      console.error('EventBridge emulator: unexpected error', error);
      if (!res.headersSent)
        reply(res, 500, { __type: 'InternalException', message: 'emulator bug; see its stderr' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { body, bytes, tooLarge } = await readRequestBody(req, MAX_REQUEST_BYTES);
    if (req.method !== 'POST') {
      reply(res, 400, {
        __type: 'UnknownOperationException',
        message: `${req.method} is not an EventBridge call`,
      });
      return;
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target !== `${TARGET_PREFIX}PutEvents`) {
      reply(res, 400, {
        __type: 'UnknownOperationException',
        message: `the emulator serves AWSEvents.PutEvents only, not "${target}"`,
      });
      return;
    }
    if (tooLarge) {
      reply(res, 400, { __type: 'ValidationException', message: `request of ${bytes} bytes exceeds 262144` });
      return;
    }
    let input: { Entries?: unknown };
    try {
      input = JSON.parse(body.toString('utf8')) as { Entries?: unknown };
    } catch {
      reply(res, 400, { __type: 'SerializationException', message: 'the body is not JSON' });
      return;
    }
    const entries = input.Entries;
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_ENTRIES) {
      reply(res, 400, {
        __type: 'ValidationException',
        message: `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${MAX_ENTRIES}`,
      });
      return;
    }
    const results = entries.map((entry: Record<string, unknown>) => accept(entry));
    reply(res, 200, {
      FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length,
      Entries: results,
    });
  }

  function accept(
    entry: Record<string, unknown>,
  ): { EventId: string } | { ErrorCode: string; ErrorMessage: string } {
    const { Source: source, DetailType: detailType, Detail: detailText } = entry;
    if (typeof source !== 'string' || typeof detailType !== 'string' || typeof detailText !== 'string') {
      return {
        ErrorCode: 'InvalidArgument',
        ErrorMessage: 'Parameters Source, DetailType and Detail are required.',
      };
    }
    let detail: unknown;
    try {
      detail = JSON.parse(detailText);
    } catch {
      detail = undefined;
    }
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    const bus =
      typeof entry.EventBusName === 'string' && entry.EventBusName !== '' ? entry.EventBusName : 'default';
    const event: Omit<ReceivedEvent, 'eventId'> = {
      busName: bus.startsWith('arn:') ? (bus.split('/').at(-1) ?? bus) : bus,
      source,
      detailType,
      detail,
      // The SDK's JSON protocol sends a Date as epoch seconds.
      time: new Date(typeof entry.Time === 'number' ? entry.Time * 1000 : Date.now()).toISOString(),
      resources: Array.isArray(entry.Resources) ? entry.Resources.map(String) : [],
    };
    const failure = entryFailure?.(event);
    if (failure !== undefined) return { ErrorCode: failure.errorCode, ErrorMessage: failure.errorMessage };
    const eventId = randomUUID();
    events.push({ eventId, ...event });
    return { EventId: eventId };
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(requestedPort, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    throw new PortUnavailableError('EventBridge', host, requestedPort, {
      cause: error,
      code: listenErrorCode(error),
    });
  }
  const { port } = server.address() as AddressInfo;
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://${host}:${port}`,
    port,
    events: () => events.map((event) => structuredClone(event)),
    setEntryFailure: (fail) => {
      entryFailure = fail;
    },
    stop() {
      stopping ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-requestid': randomUUID(),
    })
    .end(JSON.stringify(body));
}
