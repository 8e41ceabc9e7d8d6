import type { Environment } from 'aws-cdk-lib';
import { z } from 'zod';
import { InvalidSettingsError } from './errors.js';
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
  reservedConcurrency: 'reservedConcurrency',
  webhooks: 'webhooks',
  webhookSignatureHeader: 'webhookSignatureHeader',
  createDecisionEventBus: 'createDecisionEventBus',
  outcomeIndexUpgradeStep: 'outcomeIndexUpgradeStep',
} as const;
type ContextKey = (typeof ContextKey)[keyof typeof ContextKey];

// `-c key=value` always gives a string, cdk.json may give a number: accept both.
const positiveInteger = z.coerce.number().int().positive();
const text = z.string().trim().min(1);
// `-c webhooks=true` gives the string; cdk.json may give the boolean.
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')]);

/** Each key's check, and the rule it enforces in words: what a bad value's error says. */
const CONTEXT_RULES: Record<ContextKey, { schema: z.ZodType; rule: string }> = {
  stage: {
    schema: z.string().regex(STAGE_NAME_PATTERN),
    rule: 'a lowercase letter, then up to 23 lowercase letters, digits or "-" (dev, staging, prod…)',
  },
  account: { schema: z.coerce.string().regex(/^\d{12}$/), rule: 'a 12-digit AWS account id' },
  region: { schema: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/), rule: 'an AWS region, such as sa-east-1' },
  kycertBaseUrl: {
    schema: z.url({ protocol: /^https$/ }),
    rule: 'https only: an https:// URL, such as https://admin.kycert.com.br/api/v1',
  },
  kycertApiVersion: { schema: text, rule: 'a version, not blank' },
  rateLimitPerMinute: { schema: positiveInteger, rule: 'a whole number of requests per minute, 1 or more' },
  maxAttempts: { schema: positiveInteger, rule: 'a whole number of POSTs per key, 1 or more' },
  alarmEmail: { schema: z.email(), rule: 'an e-mail address' },
  apiKeySecretName: { schema: text, rule: 'the name of an existing Secrets Manager secret, not blank' },
  apiKeySecretArn: { schema: text, rule: "an existing Secrets Manager secret's complete ARN, not blank" },
  apiKeySecretKmsKeyArn: {
    schema: text,
    rule: 'the ARN of the KMS key the secret is encrypted with, not blank',
  },
  secondsPerRecord: {
    schema: z.coerce.number().positive(),
    rule: 'a number of seconds above 0, such as 1.5',
  },
  reservedConcurrency: {
    schema: z.union([z.literal(false), z.literal('false').transform(() => false as const), positiveInteger]),
    rule: 'a whole number of concurrent executions, 1 or more, or false to reserve none',
  },
  webhooks: { schema: flag, rule: 'true (create the webhook receiver) or false' },
  webhookSignatureHeader: {
    schema: z.string().regex(/^[A-Za-z0-9-]+$/),
    rule: 'a header name: letters, digits and "-", such as kycert-signature',
  },
  createDecisionEventBus: { schema: flag, rule: 'true (a bus of its own for the decision events) or false' },
  outcomeIndexUpgradeStep: {
    schema: z.union([z.literal(1), z.literal(2), z.enum(['1', '2']).transform(Number)]),
    rule: '1 or 2, the step of the outcome table index upgrade (docs/deploy.md), or absent',
  },
};

export interface AppSettings {
  stackName: string;
  /** Undefined unless the context names an account or a region: the stack is then environment-agnostic. */
  env: Environment | undefined;
  props: KycertQueueProps;
}

/**
 * Reads and checks the app's context (`app.node.getAllContext()`). Keys with a `:` or starting with `@`
 * belong to the CDK (feature flags, `aws:cdk:…`, cached lookups); any other key must be one of
 * `ContextKey`, so that a typo is an error rather than a setting silently left at its default.
 * @throws InvalidSettingsError naming every bad key and value, one problem each
 */
export function appSettingsFromContext(context: Readonly<Record<string, unknown>>): AppSettings {
  const known: readonly string[] = Object.values(ContextKey);
  const problems: string[] = [];
  for (const key of Object.keys(context)) {
    if (key.includes(':') || key.startsWith('@') || known.includes(key)) continue;
    const suggestion = closestKey(key, known);
    problems.push(
      `unknown context key "${key}": ${suggestion === undefined ? '' : `did you mean "${suggestion}"? `}the keys are ${known.join(', ')}`,
    );
  }
  const values: Partial<Record<ContextKey, unknown>> = {};
  for (const key of Object.values(ContextKey)) {
    const raw = emptyAsUndefined(context[key]);
    if (raw === undefined) continue;
    const parsed = CONTEXT_RULES[key].schema.safeParse(raw);
    if (parsed.success) values[key] = parsed.data;
    else problems.push(`context ${key}=${JSON.stringify(raw)}: ${key} must be ${CONTEXT_RULES[key].rule}`);
  }
  if (problems.length > 0) throw new InvalidSettingsError(problems);

  const c = values as {
    stage?: string;
    account?: string;
    region?: string;
    kycertBaseUrl?: string;
    kycertApiVersion?: string;
    rateLimitPerMinute?: number;
    maxAttempts?: number;
    alarmEmail?: string;
    apiKeySecretName?: string;
    apiKeySecretArn?: string;
    apiKeySecretKmsKeyArn?: string;
    secondsPerRecord?: number;
    reservedConcurrency?: number | false;
    webhooks?: boolean;
    webhookSignatureHeader?: string;
    createDecisionEventBus?: boolean;
    outcomeIndexUpgradeStep?: 1 | 2;
  };
  const stage = c.stage ?? DEFAULT_STAGE;
  const env =
    c.account === undefined && c.region === undefined ? undefined : { account: c.account, region: c.region };
  return {
    stackName: stackNameFor(stage),
    env,
    props: {
      stageName: stage,
      kycertBaseUrl: c.kycertBaseUrl,
      kycertApiVersion: c.kycertApiVersion,
      rateLimitPerMinute: c.rateLimitPerMinute,
      maxAttempts: c.maxAttempts,
      alarmEmail: c.alarmEmail,
      apiKeySecretName: c.apiKeySecretName,
      apiKeySecretArn: c.apiKeySecretArn,
      apiKeySecretKmsKeyArn: c.apiKeySecretKmsKeyArn,
      secondsPerRecord: c.secondsPerRecord,
      reservedConcurrency: c.reservedConcurrency,
      webhooks:
        c.webhooks === undefined && c.webhookSignatureHeader === undefined
          ? undefined
          : {
              enabled: c.webhooks ?? false,
              ...(c.webhookSignatureHeader === undefined
                ? {}
                : { signatureHeaderName: c.webhookSignatureHeader }),
            },
      createDecisionEventBus: c.createDecisionEventBus,
      outcomeIndexUpgradeStep: c.outcomeIndexUpgradeStep,
    },
  };
}

function emptyAsUndefined(value: unknown): unknown {
  return value === '' || value === null ? undefined : value;
}

/** The known key a typo most likely meant: the same letters in another case, or at most 2 edits away. */
function closestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameLetters = known.find((candidate) => candidate.toLowerCase() === lower);
  if (sameLetters !== undefined) return sameLetters;
  const ranked = known
    .map((candidate) => ({ candidate, distance: editDistance(lower, candidate.toLowerCase()) }))
    .sort((a, b) => a.distance - b.distance)[0];
  return ranked !== undefined && ranked.distance <= 2 ? ranked.candidate : undefined;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
