import { once } from 'node:events';
import dynalite from 'dynalite';
import { PortUnavailableError } from './errors.js';
import { listenErrorCode } from './listenErrorCode.js';
import type { RunningEmulator } from './RunningEmulator.js';

export interface DynamoDbEmulatorOptions {
  /** @default 0 (any free port) */
  readonly port?: number;
}

/** dynalite on loopback, in memory; tables become ACTIVE at once instead of after dynalite's default 500 ms. */
export async function startDynamoDbEmulator(options: DynamoDbEmulatorOptions = {}): Promise<RunningEmulator> {
  const host = '127.0.0.1';
  const requestedPort = options.port ?? 0;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  try {
    server.listen(requestedPort, host);
    await once(server, 'listening');
  } catch (error) {
    throw new PortUnavailableError('DynamoDB (dynalite)', host, requestedPort, {
      cause: error,
      code: listenErrorCode(error),
    });
  }
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error(`dynalite listened on ${host}:${requestedPort} but reports no TCP address`);
  }
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://${host}:${address.port}`,
    port: address.port,
    stop() {
      stopping ??= new Promise<void>((resolve, reject) => {
        // dynalite's close waits for its store; SDK keep-alive sockets would hold the server open meanwhile.
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return stopping;
    },
  };
}
