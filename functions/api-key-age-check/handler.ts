import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import {
  METRICS_NAMESPACE,
  MetricName,
  SERVICE_NAME,
  STAGE_DIMENSION,
} from '../kycert-worker/metricNames.js';
import { daysSinceLastChange } from './daysSinceLastChange.js';

/**
 * Run hourly by an EventBridge schedule (lib/apiKeyAgeCheck.ts): reads the API key secret's dates with
 * DescribeSecret (never its value) and emits `ApiKeyDaysSinceLastChange` as EMF, in the worker's namespace
 * with the same `service` and `stage` dimensions, for the `api-key-age` alarm. CloudWatch has no metric of
 * its own for a secret's age; this is the check cdk-monitoring-constructs runs for the same purpose.
 */
const EnvSchema = z.object({
  KYCERT_API_KEY_SECRET_ID: z.string().min(1),
  KYCERT_QUEUE_STAGE: z.string().min(1).default('local'),
});

export interface ApiKeyAgeCheckDeps {
  readonly secretsManager: SecretsManagerClient;
  readonly metrics: Metrics;
  readonly secretId: string;
  readonly nowMs: () => number;
}

export function createApiKeyAgeCheck(deps: ApiKeyAgeCheckDeps) {
  return async (): Promise<{ daysSinceLastChange: number }> => {
    const secret = await deps.secretsManager.send(new DescribeSecretCommand({ SecretId: deps.secretId }));
    const days = daysSinceLastChange(
      { createdDate: secret.CreatedDate, lastChangedDate: secret.LastChangedDate },
      deps.nowMs(),
    );
    // A failure, not a zero: a made-up age would hide the problem the alarm is for.
    if (days === undefined) throw new Error(`DescribeSecret gave no dates for secret ${deps.secretId}`);
    deps.metrics.addMetric(MetricName.apiKeyDaysSinceLastChange, MetricUnit.Count, days);
    deps.metrics.publishStoredMetrics();
    return { daysSinceLastChange: days };
  };
}

export function createApiKeyAgeCheckFromEnv(env: NodeJS.ProcessEnv = process.env) {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`invalid api-key-age-check configuration: ${problems.join('; ')}`);
  }
  return createApiKeyAgeCheck({
    secretsManager: new SecretsManagerClient({}),
    metrics: new Metrics({
      namespace: METRICS_NAMESPACE,
      serviceName: SERVICE_NAME,
      defaultDimensions: { [STAGE_DIMENSION]: parsed.data.KYCERT_QUEUE_STAGE },
    }),
    secretId: parsed.data.KYCERT_API_KEY_SECRET_ID,
    nowMs: Date.now,
  });
}

let check: (() => Promise<{ daysSinceLastChange: number }>) | undefined;
export const handler = async (): Promise<{ daysSinceLastChange: number }> => {
  check ??= createApiKeyAgeCheckFromEnv();
  return check();
};
