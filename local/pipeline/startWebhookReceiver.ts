import { fileURLToPath } from 'node:url';
import type { SQSEvent } from 'aws-lambda';
import { type RunningFunctionUrl, startFunctionUrl } from '../aws/startFunctionUrl.js';
import type { HandlerLocation } from '../lambda/executionEnvironmentProtocol.js';
import {
  type ExecutionEnvironments,
  startExecutionEnvironments,
} from '../lambda/startExecutionEnvironments.js';

/** The webhook receiver's Lambda entry point, as the stack deploys it (lib/webhookReceiver.ts). */
export const WEBHOOK_RECEIVER_HANDLER: HandlerLocation = {
  module: fileURLToPath(new URL('../../functions/kycert-webhook/handler.ts', import.meta.url)),
  export: 'handler',
};

/** As deployed: the receiver's timeout. */
const RECEIVER_TIMEOUT_SECONDS = 10;

export interface LocalWebhookReceiver {
  /** Where kycert (the sandbox) POSTs its webhooks. */
  readonly url: string;
  readonly functionUrl: RunningFunctionUrl;
  readonly environments: ExecutionEnvironments;
  /** Webhooks being handled now: a decision recorded but its event not yet published is one of them. */
  invocationsInFlight(): number;
  stop(): Promise<void>;
}

/**
 * The webhook receiver as deployed: its own handler in an execution environment of its own (a process,
 * configured through its environment), behind a Function URL on loopback (auth type NONE: the signature
 * authenticates). Each HTTP request is one invocation; a handler that throws or times out is a 502.
 */
export async function startWebhookReceiver(options: {
  env: Readonly<Record<string, string>>;
  region: string;
  output?: 'inherit' | 'ignore';
}): Promise<LocalWebhookReceiver> {
  const environments = await startExecutionEnvironments({
    count: 1,
    env: options.env,
    region: options.region,
    functionName: 'kycert-webhook',
    memorySizeMb: 256,
    handler: WEBHOOK_RECEIVER_HANDLER,
    output: options.output,
  });
  const stopping = new AbortController();
  let inFlight = 0;
  let functionUrl: RunningFunctionUrl;
  try {
    functionUrl = await startFunctionUrl({
      functionTimeoutSeconds: RECEIVER_TIMEOUT_SECONDS,
      region: options.region,
      handler: async (event, context) => {
        inFlight += 1;
        try {
          const environment = await environments.reserve(stopping.signal);
          if (environment === undefined) throw new Error('the webhook receiver is stopping');
          // The environments' protocol carries any JSON event; this one is the Function URL's, not SQS's.
          const result = await environment.invoke(
            event as unknown as SQSEvent,
            context,
            RECEIVER_TIMEOUT_SECONDS * 1000,
          );
          if (result.kind === 'returned') return result.response;
          throw result.kind === 'threw' || result.kind === 'runtimeExited'
            ? result.error
            : new Error('the webhook receiver timed out');
        } finally {
          inFlight -= 1;
        }
      },
    });
  } catch (error) {
    await environments.stop();
    throw error;
  }
  return {
    url: functionUrl.url,
    functionUrl,
    environments,
    invocationsInFlight: () => inFlight,
    async stop() {
      stopping.abort();
      await functionUrl.stop();
      await environments.stop();
    },
  };
}
