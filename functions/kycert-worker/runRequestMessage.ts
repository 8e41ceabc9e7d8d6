import { createHash } from 'node:crypto';
import { z } from 'zod';
import { checkDocument, normaliseDocument, type SubjectType } from './brazilianDocument.js';

/**
 * The message other services put on the queue: our public API, schema version 1. It mirrors kycert's own
 * `POST /bureau/runs` body, plus the idempotency key. This zod schema is the single source of truth: the
 * worker validates with it, the producer helper validates with it, and schema/*.json is generated from it.
 */

/** Bigger than any valid message (10 metadata values of 500 characters fit in ~6 KiB). */
export const MAX_MESSAGE_BYTES = 16 * 1024;

// Text that travels to kycert and into logs: no control characters, no lone surrogates.
const cleanText = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine((s) => s.isWellFormed() && !/\p{Cc}/u.test(s), {
      message: 'control characters and lone surrogates are not allowed',
      params: { code: 'invalid_characters' },
    });

export const RunRequestMessageSchema = z
  .strictObject({
    schema_version: z.literal(1).optional().describe('Message schema version; absent means 1.'),
    template_id: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9_.:-]+$/)
      .describe('kycert template to run, e.g. "tpl_onboarding_pf".'),
    subject: z
      .strictObject({
        type: z.enum(['pf', 'pj']).describe('"pf": a person (CPF); "pj": a company (CNPJ).'),
        doc: z
          .string()
          .min(1)
          .max(32)
          .describe(
            'CPF (11 digits) or CNPJ (14 characters), digits only or formatted; check digits are verified.',
          ),
      })
      .describe('Who is checked.'),
    external_id: cleanText(1, 128)
      .optional()
      .describe("The producer's own id; sent to kycert and carried into logs and the outcome."),
    metadata: z
      .record(cleanText(1, 40), cleanText(0, 500))
      .refine((m) => Object.keys(m).length <= 10, {
        message: 'at most 10 keys',
        params: { code: 'too_many_keys' },
      })
      .optional()
      .meta({ maxProperties: 10 })
      .describe('Up to 10 string keys (1–40 characters) with string values (≤ 500 characters); sent as is.'),
    idempotency_key: z
      .string()
      .min(8)
      .max(255)
      .regex(/^[\x21-\x7E]+$/) // visible ASCII only: it travels unchanged in an HTTP header
      .optional()
      .describe('Sent as Idempotency-Key. When absent it is derived from template_id and external_id.'),
  })
  .meta({
    title: 'kycert-queue run request, schema version 1',
    anyOf: [{ required: ['idempotency_key'] }, { required: ['external_id'] }],
  })
  .superRefine((message, ctx) => {
    if (message.idempotency_key === undefined && message.external_id === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['idempotency_key'],
        message: 'set idempotency_key, or external_id so that the key can be derived',
        params: { code: 'missing_key_and_external_id' },
      });
    }
    const problem = checkDocument(message.subject.type, normaliseDocument(message.subject.doc));
    if (problem !== undefined) {
      const kind = message.subject.type === 'pf' ? 'CPF' : 'CNPJ';
      ctx.addIssue({
        code: 'custom',
        path: ['subject', 'doc'],
        message: `${kind}: ${problem.replaceAll('_', ' ')}`,
        params: { code: problem },
      });
    }
  });

export type RunRequestMessage = z.input<typeof RunRequestMessageSchema>;

/** A valid message, normalised: what the worker sends and records. */
export interface RunRequest {
  idempotencyKey: string;
  idempotencyKeySource: 'message' | 'derived';
  templateId: string;
  subject: { type: SubjectType; doc: string };
  externalId: string | undefined;
  metadata: Record<string, string> | undefined;
}

export type ParseResult =
  | { ok: true; request: RunRequest }
  | {
      ok: false;
      /** `invalid_message:<field>:<problem>`, e.g. `invalid_message:subject.doc:invalid_check_digits`. */
      reason: string;
      detail: string;
      /** Read from the body when possible, so that the failure can still be recorded under its key. */
      idempotencyKey: string | undefined;
      externalId: string | undefined;
      templateId: string | undefined;
    };

export function parseRunRequestMessage(body: string): ParseResult {
  if (Buffer.byteLength(body, 'utf8') > MAX_MESSAGE_BYTES) {
    return invalid('body', 'too_large', `body exceeds ${MAX_MESSAGE_BYTES} bytes`, undefined);
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    // Not the parser's message: it quotes the start of the body, which may hold a CPF.
    return invalid('body', 'invalid_json', 'the body is not valid JSON', undefined);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return invalid(
      'body',
      'not_an_object',
      `expected a JSON object, got ${Array.isArray(json) ? 'array' : typeof json}`,
      undefined,
    );
  }
  const parsed = RunRequestMessageSchema.safeParse(json);
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    const { field, code } = describeIssue(issue as z.core.$ZodIssue, json as Record<string, unknown>);
    return invalid(field, code, issue?.message ?? code, json as Record<string, unknown>);
  }
  const m = parsed.data;
  return {
    ok: true,
    request: {
      idempotencyKey: m.idempotency_key ?? deriveIdempotencyKey(m.template_id, m.external_id as string),
      idempotencyKeySource: m.idempotency_key === undefined ? 'derived' : 'message',
      templateId: m.template_id,
      subject: { type: m.subject.type, doc: normaliseDocument(m.subject.doc) },
      externalId: m.external_id,
      metadata: m.metadata,
    },
  };
}

/**
 * kycert advises "a UUID or a hash of your external_id". Hashing template and external id together means a
 * re-sent copy of one request is one run, while the same customer under another template is another run.
 */
export function deriveIdempotencyKey(templateId: string, externalId: string): string {
  return `kq1_${createHash('sha256')
    .update(JSON.stringify(['kycert-queue/v1', templateId, externalId]))
    .digest('hex')}`;
}

/**
 * The exact bytes POSTed to kycert. Built from the message alone with a fixed key order, so every retry
 * under one key is byte-identical (kycert refuses a reused key with a different body).
 */
export function kycertRequestBody(request: RunRequest): string {
  const metadata =
    request.metadata === undefined
      ? undefined
      : Object.fromEntries(Object.entries(request.metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify({
    template_id: request.templateId,
    subject: { type: request.subject.type, doc: request.subject.doc },
    external_id: request.externalId,
    metadata,
  });
}

function invalid(
  field: string,
  code: string,
  detail: string,
  json: Record<string, unknown> | undefined,
): ParseResult {
  const text = (value: unknown) =>
    typeof value === 'string' && value.length > 0 && value.length <= 255 ? value : undefined;
  const readableKey = text(json?.idempotency_key);
  const externalId = text(json?.external_id);
  const templateId = text(json?.template_id);
  const idempotencyKey =
    readableKey !== undefined && /^[\x21-\x7E]{8,255}$/.test(readableKey)
      ? readableKey
      : externalId !== undefined && templateId !== undefined
        ? deriveIdempotencyKey(templateId, externalId)
        : undefined;
  return {
    ok: false,
    reason: `invalid_message:${field}:${code}`,
    detail,
    idempotencyKey,
    externalId,
    templateId,
  };
}

function describeIssue(
  issue: z.core.$ZodIssue | undefined,
  json: Record<string, unknown>,
): { field: string; code: string } {
  if (issue === undefined) return { field: 'body', code: 'invalid' };
  const field = issue.path.length === 0 ? 'body' : issue.path.join('.');
  switch (issue.code) {
    case 'unrecognized_keys':
      return { field: [...issue.path, issue.keys[0]].join('.'), code: 'unknown_field' };
    case 'invalid_type':
      return { field, code: valueAt(json, issue.path) === undefined ? 'missing' : 'wrong_type' };
    case 'too_small':
      return { field, code: issue.minimum === 1 && issue.origin === 'string' ? 'empty' : 'too_short' };
    case 'too_big':
      return { field, code: 'too_long' };
    case 'invalid_format':
      return { field, code: 'invalid_characters' };
    case 'invalid_value':
      return { field, code: 'unsupported_value' };
    case 'custom':
      return { field, code: String(issue.params?.code ?? 'invalid') };
    default:
      return { field, code: issue.code };
  }
}

function valueAt(json: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (node, key) =>
      typeof node === 'object' && node !== null ? (node as Record<PropertyKey, unknown>)[key] : undefined,
    json,
  );
}
