import { createHash } from 'node:crypto';
import * as z from 'zod';
import { checkDocument, normaliseDocument, redactDocuments, type SubjectType } from './brazilianDocument.js';
import { quoteForHumans } from './sqsText.js';

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
    return invalid('body', 'too_large', `the body is larger than ${MAX_MESSAGE_BYTES} bytes`, undefined);
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
      `the body must be a JSON object, not ${json === null ? 'null' : Array.isArray(json) ? 'an array' : `a ${typeof json}`}`,
      undefined,
    );
  }
  const object = json as Record<string, unknown>;
  const reservedKey = reservedMetadataKey(object.metadata);
  if (reservedKey !== undefined) {
    // JSON.parse keeps "__proto__" as an own key, but a record built from it would turn it into a prototype
    // and drop it silently: refuse it rather than send kycert other metadata than the producer wrote.
    return invalid(
      'metadata',
      'reserved_key',
      `metadata key ${JSON.stringify(reservedKey)} is reserved; use another key`,
      object,
    );
  }
  const parsed = RunRequestMessageSchema.safeParse(json);
  if (!parsed.success) {
    const { field, code, detail } = describeIssue(parsed.error.issues[0], object);
    return invalid(field, code, detail, object);
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
  field: InvalidField,
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
    // The producer's own words (a field name, a value) may hold a CPF: the detail never carries one.
    detail: redactDocuments(detail),
    idempotencyKey,
    externalId,
    templateId,
  };
}

/**
 * The schema's own field names: the only words a reason is built from. A producer's field name is its text,
 * not ours (it may hold a CPF, a control character, anything), so it only ever appears in `detail`, quoted.
 */
const FIELDS = [
  'body',
  'schema_version',
  'template_id',
  'subject',
  'subject.type',
  'subject.doc',
  'external_id',
  'metadata',
  'idempotency_key',
] as const;
type InvalidField = (typeof FIELDS)[number];

/** What each field accepts, in words, for the detail of a message that broke the rule. */
const RULES: Record<InvalidField, string> = {
  body: 'a JSON object with the fields schema_version, template_id, subject, external_id, metadata, idempotency_key',
  schema_version: 'schema_version must be 1 (or absent)',
  template_id: 'template_id must be 1 to 128 characters of A-Z a-z 0-9 _ . : -',
  subject: 'subject must be an object {"type": "pf" | "pj", "doc": "<CPF or CNPJ>"}',
  'subject.type': 'subject.type must be "pf" (a person, CPF) or "pj" (a company, CNPJ)',
  'subject.doc': 'subject.doc must be a CPF (11 digits) or a CNPJ (14 characters), punctuation allowed',
  external_id: 'external_id must be 1 to 128 characters, without control characters',
  metadata:
    'metadata must be an object of at most 10 keys (1 to 40 characters) with string values of at most 500 characters, without control characters',
  idempotency_key: 'idempotency_key must be 8 to 255 visible ASCII characters (! to ~, no spaces)',
};

const RESERVED_METADATA_KEYS = ['__proto__', 'constructor', 'prototype'];

function reservedMetadataKey(metadata: unknown): string | undefined {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return undefined;
  return RESERVED_METADATA_KEYS.find((key) => Object.hasOwn(metadata, key));
}

/** The schema field an issue is about: the longest known prefix of its path. */
function fieldOf(path: readonly PropertyKey[]): InvalidField {
  for (let length = path.length; length > 0; length--) {
    const name = path.slice(0, length).join('.');
    if ((FIELDS as readonly string[]).includes(name)) return name as InvalidField;
  }
  return 'body';
}

function describeIssue(
  issue: z.core.$ZodIssue | undefined,
  json: Record<string, unknown>,
): { field: InvalidField; code: string; detail: string } {
  if (issue === undefined) return { field: 'body', code: 'invalid', detail: RULES.body };
  const field = fieldOf(issue.path);
  const rule = RULES[field];
  // A metadata entry: the producer's key is path[1]; it is named in the detail only, quoted.
  const metadataKey =
    field === 'metadata' && issue.path.length > 1 ? quoteForHumans(String(issue.path[1])) : undefined;
  const value = valueAt(json, issue.path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = quoteForHumans(String(issue.keys[0]));
      const where = field === 'body' ? '' : ` in ${field}`;
      return { field, code: 'unknown_field', detail: `unknown field ${key}${where}; ${rule}` };
    }
    case 'invalid_key': {
      // A metadata key that breaks the key rule: too long, empty, control characters.
      const inner = issue.issues[0];
      const code =
        inner?.code === 'too_big'
          ? 'key_too_long'
          : inner?.code === 'too_small'
            ? 'key_empty'
            : 'key_invalid_characters';
      return { field, code, detail: `metadata key ${metadataKey ?? ''} is not allowed; ${rule}` };
    }
    case 'invalid_type':
      if (metadataKey !== undefined) {
        return {
          field,
          code: 'value_wrong_type',
          detail: `metadata value of ${metadataKey} must be a string`,
        };
      }
      return value === undefined
        ? { field, code: 'missing', detail: `${field} is required; ${rule}` }
        : { field, code: 'wrong_type', detail: `${field} must be ${article(issue.expected)}; ${rule}` };
    case 'too_small':
      return {
        field,
        code: issue.minimum === 1 && issue.origin === 'string' ? 'empty' : 'too_short',
        detail: `${field} is too short; ${rule}`,
      };
    case 'too_big':
      return metadataKey === undefined
        ? { field, code: 'too_long', detail: `${field} is too long; ${rule}` }
        : { field, code: 'value_too_long', detail: `metadata value of ${metadataKey} is too long; ${rule}` };
    case 'invalid_format':
      return {
        field,
        code: 'invalid_characters',
        detail: `${field} has characters it may not hold; ${rule}`,
      };
    case 'invalid_value':
      // An enum or a literal: absent is "missing", as for any other required field.
      return value === undefined
        ? { field, code: 'missing', detail: `${field} is required; ${rule}` }
        : { field, code: 'unsupported_value', detail: `${field} has an unsupported value; ${rule}` };
    case 'custom': {
      const code = String(issue.params?.code ?? 'invalid');
      if (metadataKey !== undefined && code === 'invalid_characters') {
        return {
          field,
          code: 'value_invalid_characters',
          detail: `metadata value of ${metadataKey} holds control characters or lone surrogates; ${rule}`,
        };
      }
      return { field, code, detail: CUSTOM_DETAILS[code] ?? `${field} is not valid; ${rule}` };
    }
    default:
      return { field, code: issue.code, detail: `${field} is not valid; ${rule}` };
  }
}

/** The schema's own refinements (params.code), in words. */
const CUSTOM_DETAILS: Record<string, string> = {
  invalid_characters: 'control characters and lone surrogates are not allowed',
  too_many_keys: RULES.metadata,
  missing_key_and_external_id: 'set idempotency_key, or external_id so that the key can be derived',
  invalid_check_digits: 'subject.doc: the check digits are wrong (a mistyped number?)',
  invalid_length: 'subject.doc: a CPF has 11 digits and a CNPJ 14 characters (is subject.type right?)',
  repeated_digits: 'subject.doc: a number of one repeated digit is never issued',
};

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function valueAt(json: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (node, key) =>
      typeof node === 'object' && node !== null && Object.hasOwn(node, key)
        ? (node as Record<PropertyKey, unknown>)[key]
        : undefined,
    json,
  );
}
