export type Decision = 'approved' | 'blocked' | 'pending_review' | 'partial';
export type RiskLevel = 'low' | 'medium' | 'high' | 'critical';

export interface RunOutcome {
  decision: Decision;
  riskLevel: RiskLevel;
}

const APPROVED: RunOutcome = { decision: 'approved', riskLevel: 'low' };
const BLOCKED: RunOutcome = { decision: 'blocked', riskLevel: 'critical' };
const PENDING_REVIEW: RunOutcome = { decision: 'pending_review', riskLevel: 'high' };
const PARTIAL: RunOutcome = { decision: 'partial', riskLevel: 'medium' };

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

/** What a run on this document concludes; any document that is not a fixture is approved with low risk. */
export function outcomeFor(normalisedDoc: string): RunOutcome {
  return DOCUMENTED_FIXTURES.get(normalisedDoc) ?? APPROVED;
}

/** kycert's documented test CPFs are accepted (with test keys) even where their check digits are wrong. */
export function isDocumentedFixture(normalisedDoc: string): boolean {
  return DOCUMENTED_FIXTURES.has(normalisedDoc);
}
