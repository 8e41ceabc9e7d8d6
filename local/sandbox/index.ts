/** The kycert sandbox: an embedded stand-in for kycert's API, for local runs, tests and benchmarks. */
export { maskDocument, normaliseDocument } from './brazilianDocument.js';
export { type Decision, FixtureTemplate, type RiskLevel, type TerminalRunStatus } from './fixtureOutcomes.js';
export type { KycertErrorBody } from './kycertError.js';
export {
  type ApiKeyConfig,
  type ApiKeyInput,
  DEFAULT_FAULTS,
  type FaultScript,
  type KycertSandboxOptions,
  SANDBOX_DEFAULTS,
  SandboxConfigError,
  type SandboxFaults,
  type SandboxWebhookOptions,
  Scope,
  type ScriptedFault,
} from './options.js';
export type { SandboxLogEntry } from './requestLog.js';
export type { RetryAfterFormat } from './retryAfter.js';
export type { KycertCreatedRun, KycertRunView, RunStatus, SandboxRun } from './runStore.js';
export { FaultKind, type SandboxPost, type SandboxStats } from './sandboxStats.js';
export { seededRandom } from './seededRandom.js';
export { type KycertSandbox, startKycertSandbox } from './startKycertSandbox.js';
export { type KycertWebhookEvent, type WebhookDelivery, WebhookFault } from './webhookSender.js';
