import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLocalClients, type LocalClients } from '../local/aws/createLocalClients.js';
import type { LocalAwsEnv, LocalAwsOptions } from '../local/aws/startLocalAws.js';

/** The local AWS emulators, running in a child process; clients for the parent's own use. */
export interface LocalAwsProcess {
  readonly sqsEndpoint: string;
  readonly dynamodbEndpoint: string;
  readonly region: string;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly tableName: string;
  readonly env: LocalAwsEnv;
  readonly clients: LocalClients;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;

/**
 * `startLocalAws` in its own Node process (`localAwsProcess.ts`). On a 2-core machine the emulators then get
 * the other core, and the function's measured time is its own work plus waiting for AWS, as in Lambda, not
 * the emulators' CPU.
 */
export async function startLocalAwsProcess(options: LocalAwsOptions = {}): Promise<LocalAwsProcess> {
  const child = fork(
    fileURLToPath(new URL('./localAwsProcess.ts', import.meta.url)),
    [JSON.stringify(options)],
    {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  const ready = await new Promise<Omit<LocalAwsProcess, 'clients' | 'stop'>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('local AWS child process did not start in time')),
      READY_TIMEOUT_MS,
    );
    child.once('message', (message: { type?: string; aws?: Omit<LocalAwsProcess, 'clients' | 'stop'> }) => {
      clearTimeout(timer);
      if (message.type === 'ready' && message.aws !== undefined) resolve(message.aws);
      else
        reject(new Error(`unexpected message from the local AWS child process: ${JSON.stringify(message)}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`local AWS child process exited with code ${code} before it was ready`));
    });
  });
  const clients = createLocalClients(ready);
  return {
    ...ready,
    clients,
    stop: async () => {
      clients.destroy();
      await stopChild(child);
    },
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.send({ type: 'stop' });
  });
}
