import { normaliseDocument, redactDocuments } from '../functions/kycert-worker/brazilianDocument.js';

/** `123.456.789-09` → `*********09`: enough to tell two subjects apart, not enough to identify one. */
export function maskDocument(raw: string): string {
  const doc = normaliseDocument(raw);
  return doc.length <= 2 ? '*'.repeat(doc.length) : `${'*'.repeat(doc.length - 2)}${doc.slice(-2)}`;
}

/**
 * A message body as a table shows it: `subject.doc` masked, and any other text that looks like a CPF/CNPJ
 * (an external id, a metadata value, a body that is not JSON) redacted. The idempotency key is left alone:
 * a derived key is hex and may hold a run of digits. The verbatim body is printed only by `--json`.
 */
export function maskBody(body: string): string {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return redactDocuments(body);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return redactDocuments(body);
  const { subject } = json as Record<string, unknown>;
  const masked: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    masked[name] = name === 'idempotency_key' ? value : redactValue(value);
  }
  if (typeof subject === 'object' && subject !== null && !Array.isArray(subject)) {
    const { doc } = subject as Record<string, unknown>;
    if (typeof doc === 'string') masked.subject = { ...(masked.subject as object), doc: maskDocument(doc) };
  }
  return JSON.stringify(masked);
}

/** Free text from a message or an outcome (a producer may use a CPF as its external id): documents redacted. */
export function maskText(text: string | undefined): string | undefined {
  return text === undefined ? undefined : redactDocuments(text);
}

function redactValue(value: unknown): unknown {
  if (typeof value === 'string') return redactDocuments(value);
  if (Array.isArray(value)) return value.map(redactValue);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [redactDocuments(k), redactValue(v)]));
  }
  return value;
}
