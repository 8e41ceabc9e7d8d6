/**
 * CloudWatch metric names emitted by the worker (Embedded Metric Format through Powertools Metrics).
 * The CDK alarms and dashboard import these, so a rename cannot silently break an alarm.
 */
export const METRICS_NAMESPACE = 'KycertQueue';

/** Powertools' `service` name: a dimension of every metric, and a key of every log line. */
export const SERVICE_NAME = 'kycert-queue';

/** The dimension naming the stack's stage (`KYCERT_QUEUE_STAGE`), on every metric beside `service`. */
export const STAGE_DIMENSION = 'stage';

export const MetricName = {
  /** A run was created (or replayed under a known key) and recorded. */
  succeeded: 'Succeeded',
  /** A retry was scheduled after kycert answered 429. */
  retriedRateLimited: 'RetriedRateLimited',
  /** A retry was scheduled after a 5xx or 408: the outcome is unknown. */
  retriedServerError: 'RetriedServerError',
  /** A retry was scheduled after a network error or timeout: the outcome is unknown. */
  retriedNetworkError: 'RetriedNetworkError',
  /** A retry was scheduled because kycert answered 409: a request with this key is still in progress. */
  retriedInProgress: 'RetriedInProgress',
  /** The message was sent to the DLQ; emitted once with no dimension and once with a `reason` dimension. */
  deadLettered: 'DeadLettered',
  /** kycert answered 401 (before or after the credential refresh). */
  authenticationFailures: 'AuthenticationFailures',
  /** A message was sent back to come for a slot of the shared rate schedule further away than a short wait. */
  deferredForRateBudget: 'DeferredForRateBudget',
  /** kycert answered that the account is blocked (402, 403, a 401 that persisted): the flow pauses. */
  accountBlocked: 'AccountBlocked',
  /** A message waited for the account to be unblocked (the breaker open); not an attempt. */
  pausedForAccount: 'PausedForAccount',
  /** The API key secret holds no kycert key (the placeholder the stack generated): the flow pauses. */
  apiKeyUnset: 'ApiKeyUnset',
  /** A copy of a message whose key already finished was acknowledged without calling kycert. */
  duplicateDeliveries: 'DuplicateDeliveries',
  /** A run reached its terminal status (emitted once per run, with a `run_status` dimension as well). */
  decided: 'Decided',
  /** From the POST's acceptance to the recorded decision, in milliseconds. */
  timeToDecision: 'TimeToDecision',
  /** A run with no decision after the configured time: its outcome is `decision_overdue`. */
  decisionOverdue: 'DecisionOverdue',
  /** A status check (`GET /bureau/runs/{id}`) sent to kycert. */
  statusChecks: 'StatusChecks',
  /** kycert answered 404 for a run it had accepted: worth an alarm, never a silent drop. */
  runNotFound: 'RunNotFound',
  /** A webhook refused: bad or missing signature, stale timestamp, body too large. */
  webhooksRejected: 'WebhooksRejected',
  /** A verified webhook for a run no outcome holds (yet): parked for the worker and the operator. */
  webhooksUnmatched: 'WebhooksUnmatched',
  /** Time from sending the POST to the end of kycert's answer. */
  kycertLatency: 'KycertLatency',
  /** A result write was refused because another delivery claimed the key after this one's lease (fencing). */
  fencedWrites: 'FencedWrites',
  /** A record failed for a reason the worker did not expect (AWS call failed, bug); it will be retried. */
  unexpectedErrors: 'UnexpectedErrors',
  /** Whole days since the API key secret last changed; emitted hourly by functions/api-key-age-check. */
  apiKeyDaysSinceLastChange: 'ApiKeyDaysSinceLastChange',
} as const;
export type MetricName = (typeof MetricName)[keyof typeof MetricName];
