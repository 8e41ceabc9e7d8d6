/** kycert's sandbox decisions and risk bands, upper case as its sandbox documentation writes them. */
export type Decision = 'APPROVED' | 'BLOCKED' | 'PENDING_REVIEW' | 'PARTIAL';
export type RiskLevel = 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';

/** The statuses a run ends in (kycert's docs): the first four are `run.completed`, `failed` is `run.failed`. */
export type TerminalRunStatus = 'completed' | 'blocked' | 'pending_review' | 'partial' | 'failed';

/** How a run ends: a decision with its status, or kycert's "unrecoverable technical failure". */
export type RunOutcome =
  | { status: Exclude<TerminalRunStatus, 'failed'>; decision: Decision; riskLevel: RiskLevel }
  | { status: 'failed'; decision: null; riskLevel: null };

const APPROVED: RunOutcome = { status: 'completed', decision: 'APPROVED', riskLevel: 'LOW' };
const BLOCKED: RunOutcome = { status: 'blocked', decision: 'BLOCKED', riskLevel: 'CRITICAL' };
const PENDING_REVIEW: RunOutcome = {
  status: 'pending_review',
  decision: 'PENDING_REVIEW',
  riskLevel: 'HIGH',
};
const PARTIAL: RunOutcome = { status: 'partial', decision: 'PARTIAL', riskLevel: 'MEDIUM' };
export const FAILED: RunOutcome = { status: 'failed', decision: null, riskLevel: null };

/**
 * The CPFs kycert's sandbox documentation lists, by normalised document. Only 000.000.001-91 passes the CPF
 * check-digit arithmetic; kycert accepts the others by name with `sk_test_` keys (they belong to nobody), and
 * its live environment refuses them as `invalid_document`.
 */
const DOCUMENTED_FIXTURES: ReadonlyMap<string, RunOutcome> = new Map([
  ['00000000191', APPROVED],
  ['00000000281', BLOCKED],
  ['00000000453', PENDING_REVIEW],
  ['00000000806', PARTIAL],
]);

/**
 * The sandbox's own fixture templates (kycert documents none for these cases): a run under `tpl_fails`
 * fails (`run.failed`, `decision: null`), a run under `tpl_never_finishes` stays `queued` for ever (the worker's
 * `decision_overdue`). Known like any other `tpl_…` id (and, with `strictTemplates`, only when listed).
 */
export const FixtureTemplate = {
  fails: 'tpl_fails',
  neverFinishes: 'tpl_never_finishes',
} as const;

/** What a run on this document concludes; any document that is not a fixture is approved with low risk. */
export function outcomeFor(normalisedDoc: string): RunOutcome {
  return DOCUMENTED_FIXTURES.get(normalisedDoc) ?? APPROVED;
}

/** kycert's documented test CPFs are accepted (with test keys) even where their check digits are wrong. */
export function isDocumentedFixture(normalisedDoc: string): boolean {
  return DOCUMENTED_FIXTURES.has(normalisedDoc);
}
