import { documentProblem, normaliseDocument, type SubjectType } from './brazilianDocument.js';
import { isDocumentedFixture } from './fixtureOutcomes.js';
import { type KycertErrorBody, KycertErrorType, kycertError } from './kycertError.js';

/** kycert's documented limits on `metadata`. */
export const MAX_METADATA_KEYS = 10;
export const MAX_METADATA_VALUE_CHARS = 500;
const MAX_EXTERNAL_ID_CHARS = 255;
const MAX_WEBHOOK_URL_CHARS = 2048;

export interface CreateRunRequest {
  templateId: string;
  /** `doc` normalised: no punctuation, letters upper-cased. */
  subject: { type: SubjectType; doc: string };
  externalId: string | null;
  metadata: Record<string, string> | null;
  /** Where this run's webhook goes instead of the account's endpoint (kycert: `webhook_url` per request). */
  webhookUrl: string | null;
}

export type CreateRunValidation =
  | { ok: true; request: CreateRunRequest }
  | { ok: false; error: KycertErrorBody };

/**
 * Checks a `POST /bureau/runs` body the way kycert documents it, first problem first. `acceptFixtures`: the
 * request came with an `sk_test_` key, so kycert's fixture CPFs pass whatever their check digits.
 */
export function validateCreateRunBody(bodyText: string, acceptFixtures: boolean): CreateRunValidation {
  let json: unknown;
  try {
    json = JSON.parse(bodyText);
  } catch {
    return invalid('invalid_json', 'The request body is not valid JSON.', null);
  }
  if (!isPlainObject(json)) return invalid('invalid_json', 'The request body must be a JSON object.', null);

  const templateId = json.template_id;
  if (typeof templateId !== 'string' || templateId.length === 0) {
    return invalid(
      'missing_template_id',
      'template_id is required and must be a non-empty string.',
      'template_id',
    );
  }

  const subject = json.subject;
  if (!isPlainObject(subject)) {
    return invalid('missing_subject', 'subject is required: { "type": "pf" | "pj", "doc": "…" }.', 'subject');
  }
  const type = subject.type;
  if (type !== 'pf' && type !== 'pj') {
    return invalid('invalid_subject_type', 'subject.type must be "pf" (CPF) or "pj" (CNPJ).', 'subject.type');
  }
  if (typeof subject.doc !== 'string') {
    return invalid('invalid_document', 'subject.doc must be a string.', 'subject.doc');
  }
  const doc = normaliseDocument(subject.doc);
  const problem =
    acceptFixtures && type === 'pf' && isDocumentedFixture(doc) ? undefined : documentProblem(type, doc);
  if (problem !== undefined) {
    // The message names the problem, never the number: error bodies end up in clients' logs.
    const kind = type === 'pf' ? 'CPF' : 'CNPJ';
    return invalid(
      'invalid_document',
      `subject.doc is not a valid ${kind}: ${problem.replaceAll('_', ' ')}.`,
      'subject.doc',
    );
  }

  const externalId = json.external_id ?? null;
  if (externalId !== null && (typeof externalId !== 'string' || externalId.length > MAX_EXTERNAL_ID_CHARS)) {
    return invalid(
      'invalid_external_id',
      `external_id must be a string of at most ${MAX_EXTERNAL_ID_CHARS} characters.`,
      'external_id',
    );
  }

  const metadata = json.metadata ?? null;
  if (metadata !== null) {
    const problemParam = metadataProblem(metadata);
    if (problemParam !== undefined) {
      return invalid(
        'invalid_metadata',
        `metadata takes at most ${MAX_METADATA_KEYS} keys with string values of at most ${MAX_METADATA_VALUE_CHARS} characters.`,
        problemParam,
      );
    }
  }

  const webhookUrl = json.webhook_url ?? null;
  if (webhookUrl !== null && !isWebhookUrl(webhookUrl)) {
    return invalid(
      'invalid_webhook_url',
      `webhook_url must be an https:// URL of at most ${MAX_WEBHOOK_URL_CHARS} characters (http:// only to localhost).`,
      'webhook_url',
    );
  }

  return {
    ok: true,
    request: {
      templateId,
      subject: { type, doc },
      externalId,
      metadata: metadata as Record<string, string> | null,
      webhookUrl,
    },
  };
}

/**
 * kycert posts webhooks to "your HTTPS endpoint"; the sandbox also takes plain http to loopback, where the
 * local receiver listens (local/aws/startFunctionUrl.ts).
 */
export function isWebhookUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > MAX_WEBHOOK_URL_CHARS) return false;
  const url = URL.parse(value);
  if (url === null || url.username !== '' || url.password !== '') return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

/** The param to blame, or `undefined` when the metadata is acceptable. */
function metadataProblem(metadata: unknown): string | undefined {
  if (!isPlainObject(metadata)) return 'metadata';
  const entries = Object.entries(metadata);
  if (entries.length > MAX_METADATA_KEYS) return 'metadata';
  const bad = entries.find(
    ([, value]) => typeof value !== 'string' || value.length > MAX_METADATA_VALUE_CHARS,
  );
  return bad === undefined ? undefined : `metadata.${bad[0]}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(code: string, message: string, param: string | null): CreateRunValidation {
  return { ok: false, error: kycertError(KycertErrorType.invalidRequest, code, message, param) };
}
