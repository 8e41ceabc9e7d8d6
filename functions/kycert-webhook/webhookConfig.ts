import { z } from 'zod';
import { WebhookSignature } from './webhookSignature.js';

/**
 * The receiver's configuration, read once per cold start from the environment; the CDK construct
 * (lib/webhookReceiver.ts) sets every variable. Documented in docs/deploy.md ("Webhooks").
 */
const EnvSchema = z
  .object({
    OUTCOME_TABLE_NAME: z.string().min(1),
    /** Must equal the worker's: a result written by the receiver keeps the item's lifetime. @default 30 days */
    OUTCOME_TTL_DAYS: z.coerce.number().int().positive().default(30),
    /** Secrets Manager secret id (name or ARN) holding the webhook secret(s); the usual way in AWS. */
    KYCERT_WEBHOOK_SECRET_ID: z.string().min(1).optional(),
    /** The secret's value itself (`whsec_…`, or JSON with `secrets`); for local runs only. Wins over the id. */
    KYCERT_WEBHOOK_SECRET: z.string().min(1).optional(),
    /** How long the secret is cached before it is read again (a failed signature re-reads it sooner). @default 300 s */
    KYCERT_WEBHOOK_SECRET_CACHE_SECONDS: z.coerce.number().int().positive().default(300),
    /** The header kycert's signature comes in; kycert's docs do not name it. @default kycert-signature */
    KYCERT_WEBHOOK_SIGNATURE_HEADER: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, 'must be a header name: letters, digits and "-"')
      .default(WebhookSignature.defaultHeaderName),
    /** How far the signature's timestamp may be from now. kycert's docs: 5 minutes. @default 300 s */
    KYCERT_WEBHOOK_TOLERANCE_SECONDS: z.coerce
      .number()
      .int()
      .positive()
      .max(3600)
      .default(WebhookSignature.defaultToleranceSeconds),
    /** The EventBridge bus decisions go to (name or ARN); unset: no event is published (local runs). */
    DECISION_EVENT_BUS_NAME: z.string().min(1).optional(),
    /** The `stage` dimension of every metric, and of every decision event. @default 'local' */
    KYCERT_QUEUE_STAGE: z.string().min(1).default('local'),
  })
  .refine((env) => env.KYCERT_WEBHOOK_SECRET !== undefined || env.KYCERT_WEBHOOK_SECRET_ID !== undefined, {
    message: 'set KYCERT_WEBHOOK_SECRET_ID (or KYCERT_WEBHOOK_SECRET for local runs)',
    path: ['KYCERT_WEBHOOK_SECRET_ID'],
  });

export interface WebhookConfig {
  outcomeTableName: string;
  outcomeTtlSeconds: number;
  secret: { kind: 'env'; value: string } | { kind: 'secret'; secretId: string };
  secretCacheSeconds: number;
  signatureHeaderName: string;
  toleranceSeconds: number;
  decisionEventBusName: string | undefined;
  stage: string;
}

export class WebhookConfigError extends Error {}

export function loadWebhookConfig(env: NodeJS.ProcessEnv = process.env): WebhookConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new WebhookConfigError(`invalid webhook receiver configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    outcomeTableName: e.OUTCOME_TABLE_NAME,
    outcomeTtlSeconds: e.OUTCOME_TTL_DAYS * 86_400,
    secret:
      e.KYCERT_WEBHOOK_SECRET !== undefined
        ? { kind: 'env', value: e.KYCERT_WEBHOOK_SECRET }
        : { kind: 'secret', secretId: e.KYCERT_WEBHOOK_SECRET_ID as string },
    secretCacheSeconds: e.KYCERT_WEBHOOK_SECRET_CACHE_SECONDS,
    signatureHeaderName: e.KYCERT_WEBHOOK_SIGNATURE_HEADER.toLowerCase(),
    toleranceSeconds: e.KYCERT_WEBHOOK_TOLERANCE_SECONDS,
    decisionEventBusName: e.DECISION_EVENT_BUS_NAME,
    stage: e.KYCERT_QUEUE_STAGE,
  };
}
