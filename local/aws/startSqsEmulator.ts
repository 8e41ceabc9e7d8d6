import { buildApp } from 'fauxqs';
import { PortUnavailableError } from './errors.js';
import { listenErrorCode } from './listenErrorCode.js';
import type { RunningEmulator } from './RunningEmulator.js';

export interface SqsEmulatorOptions {
  /** @default 0 (any free port) */
  readonly port?: number;
  /** Region of queues created without a signed request; SDK calls use their own signing region. */
  readonly region: string;
}

/**
 * fauxqs on loopback. `startFauxqs` always listens on 0.0.0.0, so the app is built and bound here instead:
 * a laptop's queues should not be reachable from the café's Wi-Fi.
 * Queue URLs look like AWS's (`http://sqs.<region>.localhost:<port>/000000000000/<name>`), and that host does
 * not resolve everywhere: clients must send them to the endpoint (`useQueueUrlAsEndpoint: false`).
 */
export async function startSqsEmulator(options: SqsEmulatorOptions): Promise<RunningEmulator> {
  const host = '127.0.0.1';
  const requestedPort = options.port ?? 0;
  const app = buildApp({ logger: false, defaultRegion: options.region });
  try {
    await app.listen({ port: requestedPort, host });
  } catch (error) {
    await app.close();
    throw new PortUnavailableError('SQS (fauxqs)', host, requestedPort, {
      cause: error,
      code: listenErrorCode(error),
    });
  }
  const address = app.server.address();
  if (address === null || typeof address === 'string') {
    await app.close();
    throw new Error(`fauxqs listened on ${host}:${requestedPort} but reports no TCP address`);
  }
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://${host}:${address.port}`,
    port: address.port,
    stop() {
      // Fastify's close ends long polls and, with forceCloseConnections, keep-alive sockets too.
      stopping ??= app.close();
      return stopping;
    },
  };
}
