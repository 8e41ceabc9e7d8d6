import type { Environment } from 'aws-cdk-lib';
import { z } from 'zod';
import type { KycertQueueProps } from './kycertQueue.js';
import { DEFAULT_STAGE, STAGE_NAME_PATTERN, stackNameFor } from './stackName.js';

/**
 * The CDK context keys the app reads (`cdk deploy -c stage=staging -c rateLimitPerMinute=120`, or the
 * "context" block of cdk.json). Each one is optional; its default is the construct prop's. Documented in
 * docs/deploy.md ("Settings").
 */
export const ContextKey = {
  stage: 'stage',
  account: 'account',
  region: 'region',
  kycertBaseUrl: 'kycertBaseUrl',
  kycertApiVersion: 'kycertApiVersion',
  rateLimitPerMinute: 'rateLimitPerMinute',
  maxAttempts: 'maxAttempts',
  alarmEmail: 'alarmEmail',
  apiKeySecretName: 'apiKeySecretName',
  apiKeySecretArn: 'apiKeySecretArn',
  apiKeySecretKmsKeyArn: 'apiKeySecretKmsKeyArn',
  secondsPerRecord: 'secondsPerRecord',
} as const;

// `-c key=value` always gives a string, cdk.json may give a number: accept both.
const positiveInteger = z.coerce.number().int().positive();
const text = z.string().trim().min(1);

const ContextSchema = z.object({
  [ContextKey.stage]: z.string().regex(STAGE_NAME_PATTERN).default(DEFAULT_STAGE),
  [ContextKey.account]: z.coerce
    .string()
    .regex(/^\d{12}$/)
    .optional(),
  [ContextKey.region]: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/)
    .optional(),
  [ContextKey.kycertBaseUrl]: z.url({ protocol: /^https$/ }).optional(),
  [ContextKey.kycertApiVersion]: text.optional(),
  [ContextKey.rateLimitPerMinute]: positiveInteger.optional(),
  [ContextKey.maxAttempts]: positiveInteger.optional(),
  [ContextKey.alarmEmail]: z.email().optional(),
  [ContextKey.apiKeySecretName]: text.optional(),
  [ContextKey.apiKeySecretArn]: text.optional(),
  [ContextKey.apiKeySecretKmsKeyArn]: text.optional(),
  [ContextKey.secondsPerRecord]: z.coerce.number().positive().optional(),
});

export interface AppSettings {
  stackName: string;
  /** Undefined unless the context names an account or a region: the stack is then environment-agnostic. */
  env: Environment | undefined;
  props: KycertQueueProps;
}

/** Reads and checks the context; a bad value fails `cdk synth` with the key's name. */
export function appSettingsFromContext(tryGetContext: (key: string) => unknown): AppSettings {
  const raw = Object.fromEntries(
    Object.values(ContextKey).map((key) => [key, emptyAsUndefined(tryGetContext(key))] as const),
  );
  const parsed = ContextSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`invalid CDK context for kycert-queue: ${problems.join('; ')}`);
  }
  const c = parsed.data;
  const env =
    c.account === undefined && c.region === undefined ? undefined : { account: c.account, region: c.region };
  return {
    stackName: stackNameFor(c.stage),
    env,
    props: {
      stageName: c.stage,
      kycertBaseUrl: c.kycertBaseUrl,
      kycertApiVersion: c.kycertApiVersion,
      rateLimitPerMinute: c.rateLimitPerMinute,
      maxAttempts: c.maxAttempts,
      alarmEmail: c.alarmEmail,
      apiKeySecretName: c.apiKeySecretName,
      apiKeySecretArn: c.apiKeySecretArn,
      apiKeySecretKmsKeyArn: c.apiKeySecretKmsKeyArn,
      secondsPerRecord: c.secondsPerRecord,
    },
  };
}

function emptyAsUndefined(value: unknown): unknown {
  return value === '' || value === null ? undefined : value;
}
