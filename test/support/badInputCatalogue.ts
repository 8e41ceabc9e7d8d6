import { MAX_MESSAGE_BYTES } from '../../functions/kycert-worker/runRequestMessage.js';
import { MAIN_QUEUE_MAXIMUM_MESSAGE_BYTES } from '../../local/aws/createQueuePair.js';
import { cpfFromNumber } from './faultMessages.js';

/**
 * The README's bad-input catalogue as messages that can be sent through the pipeline, each with the exact DLQ
 * reason it must get. `body(id)` makes a distinct body per id (a different external id, key or padding), so
 * that many copies can run at once without sharing a key with each other or with a valid request.
 * Bodies SQS itself refuses (an empty body, raw control characters) cannot reach the worker and are not here;
 * their escaped JSON forms are.
 */
export interface BadInputCase {
  name: string;
  body: (id: string) => string;
  reason: string;
}

const CPF = cpfFromNumber(42);
const valid = (id: string) => ({
  template_id: 'tpl_onboarding_pf',
  subject: { type: 'pf', doc: CPF },
  external_id: `bad-${id}`,
});
const withFields = (fields: Record<string, unknown>) => (id: string) =>
  JSON.stringify({ ...valid(id), ...fields });
const without =
  (field: 'template_id' | 'subject' | 'external_id', fields: Record<string, unknown> = {}) =>
  (id: string) => {
    const { [field]: _dropped, ...rest } = valid(id);
    return JSON.stringify({ ...rest, ...fields });
  };
/** Bodies that cannot carry an id are kept distinct by trailing JSON whitespace spelling the id. */
const padded = (text: string) => (id: string) => `${text} ${whitespaceSpelling(id)}`;

export const BAD_INPUT_CATALOGUE: readonly BadInputCase[] = [
  // The body as a whole
  { name: 'not JSON', body: (id) => `this is not JSON ${id}`, reason: 'invalid_message:body:invalid_json' },
  {
    name: 'truncated JSON',
    body: (id) => `{"template_id":"${id}",`,
    reason: 'invalid_message:body:invalid_json',
  },
  { name: 'blank body', body: padded(''), reason: 'invalid_message:body:invalid_json' },
  {
    name: 'JSON behind a byte-order mark',
    body: (id) => `\ufeff${JSON.stringify(valid(id))}`,
    reason: 'invalid_message:body:invalid_json',
  },
  {
    name: 'a JSON array',
    body: (id) => JSON.stringify([valid(id)]),
    reason: 'invalid_message:body:not_an_object',
  },
  {
    name: 'a JSON string',
    body: (id) => JSON.stringify(`order ${id}`),
    reason: 'invalid_message:body:not_an_object',
  },
  { name: 'JSON null', body: padded('null'), reason: 'invalid_message:body:not_an_object' },
  { name: 'a JSON number', body: padded('42'), reason: 'invalid_message:body:not_an_object' },
  {
    name: 'body over 16 KiB',
    body: withFields({ metadata: { note: 'x'.repeat(MAX_MESSAGE_BYTES) } }),
    reason: 'invalid_message:body:too_large',
  },
  // Missing fields and wrong types
  {
    name: 'template_id missing',
    body: without('template_id'),
    reason: 'invalid_message:template_id:missing',
  },
  { name: 'subject missing', body: without('subject'), reason: 'invalid_message:subject:missing' },
  {
    name: 'subject.doc missing',
    body: withFields({ subject: { type: 'pf' } }),
    reason: 'invalid_message:subject.doc:missing',
  },
  {
    name: 'neither idempotency_key nor external_id',
    body: (id) => without('external_id', { metadata: { id } })(id),
    reason: 'invalid_message:idempotency_key:missing_key_and_external_id',
  },
  {
    name: 'template_id a number',
    body: withFields({ template_id: 7 }),
    reason: 'invalid_message:template_id:wrong_type',
  },
  {
    name: 'subject a string',
    body: withFields({ subject: CPF }),
    reason: 'invalid_message:subject:wrong_type',
  },
  {
    name: 'external_id a number',
    body: (id) => JSON.stringify({ ...valid(id), external_id: 1, idempotency_key: `bad-key-${id}` }),
    reason: 'invalid_message:external_id:wrong_type',
  },
  {
    name: 'metadata an array',
    body: withFields({ metadata: ['a'] }),
    reason: 'invalid_message:metadata:wrong_type',
  },
  {
    name: 'metadata value a number',
    body: withFields({ metadata: { n: 1 } }),
    reason: 'invalid_message:metadata:value_wrong_type',
  },
  // Empty strings and lengths
  {
    name: 'template_id empty',
    body: withFields({ template_id: '' }),
    reason: 'invalid_message:template_id:empty',
  },
  {
    name: 'external_id empty',
    body: (id) => JSON.stringify({ ...valid(id), external_id: '', idempotency_key: `bad-key-${id}` }),
    reason: 'invalid_message:external_id:empty',
  },
  {
    name: 'subject.doc empty',
    body: withFields({ subject: { type: 'pf', doc: '' } }),
    reason: 'invalid_message:subject.doc:empty',
  },
  {
    name: 'template_id too long',
    body: withFields({ template_id: `tpl_${'t'.repeat(125)}` }),
    reason: 'invalid_message:template_id:too_long',
  },
  {
    name: 'idempotency_key too short',
    body: withFields({ idempotency_key: 'k-1' }),
    reason: 'invalid_message:idempotency_key:too_short',
  },
  {
    name: 'idempotency_key too long',
    body: (id) => withFields({ idempotency_key: `${id}-`.padEnd(256, 'k') })(id),
    reason: 'invalid_message:idempotency_key:too_long',
  },
  {
    name: 'metadata value too long',
    body: withFields({ metadata: { note: 'x'.repeat(501) } }),
    reason: 'invalid_message:metadata:value_too_long',
  },
  {
    name: 'metadata with 11 keys',
    body: withFields({ metadata: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) }),
    reason: 'invalid_message:metadata:too_many_keys',
  },
  // Documents
  {
    name: 'CPF check digits wrong',
    body: withFields({ subject: { type: 'pf', doc: '123.456.789-00' } }),
    reason: 'invalid_message:subject.doc:invalid_check_digits',
  },
  {
    name: 'CNPJ check digits wrong',
    body: withFields({ subject: { type: 'pj', doc: '12.345.678/0001-96' } }),
    reason: 'invalid_message:subject.doc:invalid_check_digits',
  },
  {
    name: 'CPF of 10 digits',
    body: withFields({ subject: { type: 'pf', doc: '1234567890' } }),
    reason: 'invalid_message:subject.doc:invalid_length',
  },
  {
    name: 'a CPF sent as pj',
    body: withFields({ subject: { type: 'pj', doc: CPF } }),
    reason: 'invalid_message:subject.doc:invalid_length',
  },
  {
    name: 'CPF of one repeated digit',
    body: withFields({ subject: { type: 'pf', doc: '111.111.111-11' } }),
    reason: 'invalid_message:subject.doc:repeated_digits',
  },
  {
    name: 'unknown subject type',
    body: withFields({ subject: { type: 'pp', doc: CPF } }),
    reason: 'invalid_message:subject.type:unsupported_value',
  },
  {
    name: 'schema_version 2',
    body: withFields({ schema_version: 2 }),
    reason: 'invalid_message:schema_version:unsupported_value',
  },
  // Keys and odd characters
  {
    name: 'idempotency_key with a space',
    body: (id) => withFields({ idempotency_key: `the key ${id}` })(id),
    reason: 'invalid_message:idempotency_key:invalid_characters',
  },
  {
    name: 'idempotency_key with a control character',
    body: (id) => withFields({ idempotency_key: `bell\u0007key-${id}` })(id),
    reason: 'invalid_message:idempotency_key:invalid_characters',
  },
  {
    name: 'idempotency_key with non-ASCII letters',
    body: (id) => withFields({ idempotency_key: `chave-ação-${id}` })(id),
    reason: 'invalid_message:idempotency_key:invalid_characters',
  },
  {
    name: 'external_id with a newline',
    body: (id) =>
      JSON.stringify({ ...valid(id), external_id: `a\nb-${id}`, idempotency_key: `bad-key-${id}` }),
    reason: 'invalid_message:external_id:invalid_characters',
  },
  {
    name: 'external_id with a NUL',
    body: (id) =>
      JSON.stringify({ ...valid(id), external_id: `a\u0000b-${id}`, idempotency_key: `bad-key-${id}` }),
    reason: 'invalid_message:external_id:invalid_characters',
  },
  {
    name: 'external_id with a lone surrogate',
    body: (id) =>
      JSON.stringify({ ...valid(id), external_id: `a\ud800b-${id}`, idempotency_key: `bad-key-${id}` }),
    reason: 'invalid_message:external_id:invalid_characters',
  },
  {
    name: 'template_id with a zero-width space',
    body: withFields({ template_id: 'tpl_\u200bonboarding' }),
    reason: 'invalid_message:template_id:invalid_characters',
  },
  {
    name: 'CPF in full-width digits',
    body: withFields({ subject: { type: 'pf', doc: '５２９.９８２.２４７-２５' } }),
    reason: 'invalid_message:subject.doc:invalid_characters',
  },
  {
    name: 'CPF in Arabic-Indic digits',
    body: withFields({ subject: { type: 'pf', doc: '٥٢٩٩٨٢٢٤٧٢٥' } }),
    reason: 'invalid_message:subject.doc:invalid_characters',
  },
  // Unknown fields
  {
    name: 'an unknown field',
    body: withFields({ priority: 'high' }),
    reason: 'invalid_message:body:unknown_field',
  },
  {
    name: 'a camel-cased field',
    body: (id) => without('external_id', { externalId: `bad-${id}`, idempotency_key: `bad-key-${id}` })(id),
    reason: 'invalid_message:body:unknown_field',
  },
  {
    name: 'an unknown subject field',
    body: withFields({ subject: { type: 'pf', doc: CPF, name: 'Ana' } }),
    reason: 'invalid_message:subject:unknown_field',
  },
  // A producer's field names are its text: the reason is built from the schema's names only, so that no
  // character SQS refuses in an attribute, and no document, gets into it.
  {
    name: 'an unknown field with a control character in its name',
    body: withFields({ 'note\u0001': 1 }),
    reason: 'invalid_message:body:unknown_field',
  },
  {
    name: 'an unknown field named by a lone surrogate',
    body: withFields({ '\ud800': 1 }),
    reason: 'invalid_message:body:unknown_field',
  },
  {
    name: 'an unknown field named like a CPF',
    body: withFields({ '529.982.247-25': true }),
    reason: 'invalid_message:body:unknown_field',
  },
  {
    name: 'a field "__proto__" (an own key, as JSON.parse keeps it)',
    body: (id) => `${JSON.stringify(valid(id)).slice(0, -1)},"__proto__":{"x":1}}`,
    reason: 'invalid_message:body:unknown_field',
  },
  {
    name: 'a metadata key with a control character',
    body: withFields({ metadata: { 'tag\u0007': 'x' } }),
    reason: 'invalid_message:metadata:key_invalid_characters',
  },
  {
    name: 'a metadata key of 41 characters',
    body: withFields({ metadata: { ['k'.repeat(41)]: 'x' } }),
    reason: 'invalid_message:metadata:key_too_long',
  },
  {
    name: 'a metadata value with a lone surrogate',
    body: withFields({ metadata: { tag: 'a\udc00b' } }),
    reason: 'invalid_message:metadata:value_invalid_characters',
  },
  {
    name: 'metadata key "__proto__"',
    body: (id) => JSON.stringify(valid(id)).replace(/}$/, ',"metadata":{"__proto__":"campaign-7"}}'),
    reason: 'invalid_message:metadata:reserved_key',
  },
  {
    name: 'metadata key "constructor"',
    body: withFields({ metadata: { constructor: 'x' } }),
    reason: 'invalid_message:metadata:reserved_key',
  },
  // The body as large as the main queue takes: it must still fit the DLQ with the reason beside it.
  {
    name: 'a body at the main queue’s size limit',
    body: (id) => {
      const prefix = `{"template_id":"tpl_onboarding_pf","note":"${id}`;
      return `${prefix}${'x'.repeat(MAIN_QUEUE_MAXIMUM_MESSAGE_BYTES - Buffer.byteLength(prefix) - 2)}"}`;
    },
    reason: 'invalid_message:body:too_large',
  },
];

/** Each UTF-8 byte of `id` as four of JSON's four whitespace characters (two bits each). */
function whitespaceSpelling(id: string): string {
  const symbols = [' ', '\t', '\n', '\r'];
  return [...Buffer.from(id, 'utf8')]
    .flatMap((byte) => [6, 4, 2, 0].map((shift) => symbols[(byte >> shift) & 3]))
    .join('');
}
