import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { createWebhookDeps } from './createWebhookDeps.js';
import { createWebhookReceiver, type WebhookReceiverDeps } from './receiveWebhook.js';
import { loadWebhookConfig } from './webhookConfig.js';

/**
 * The Lambda entry point behind the Function URL (payload format 2.0): kycert's webhook in, an HTTP answer out.
 * The raw body is rebuilt byte for byte (a Function URL base64-encodes bodies it does not take for text), since
 * the signature is over those bytes.
 */
export function createHandler(getDeps: () => WebhookReceiverDeps) {
  let receive: ReturnType<typeof createWebhookReceiver> | undefined;
  return async (
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const deps = getDeps();
    receive ??= createWebhookReceiver(deps);
    deps.logger.addContext(context);
    const body =
      event.body === undefined
        ? Buffer.alloc(0)
        : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
    try {
      const response = await receive(
        { method: event.requestContext.http.method, headers, body },
        { deadlineMs: deps.nowMs() + context.getRemainingTimeInMillis() },
      );
      return {
        statusCode: response.statusCode,
        headers: response.headers,
        body: JSON.stringify(response.body),
      };
    } finally {
      if (deps.metrics.hasStoredMetrics()) deps.metrics.publishStoredMetrics();
    }
  };
}

let deps: WebhookReceiverDeps | undefined;
export const handler = createHandler(() => {
  deps ??= createWebhookDeps(loadWebhookConfig());
  return deps;
});
