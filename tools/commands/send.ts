import type { SQSClient } from '@aws-sdk/client-sqs';
import { normaliseDocument, redactDocuments } from '../../functions/kycert-worker/brazilianDocument.js';
import {
  parseRunRequestMessage,
  type RunRequestMessage,
} from '../../functions/kycert-worker/runRequestMessage.js';
import { buildRunRequestMessage, InvalidRunRequestError, RunRequestProducer } from '../../producer/index.js';
import { UsageError } from '../errors.js';
import { jsonLines, NotJsonLinesError } from '../jsonLines.js';
import { type Layout, PLAIN_LAYOUT, table } from '../output.js';

/** One message to send, with where it came from ("line 3", "argument", "flags"). */
export interface SendInput {
  source: string;
  text: string;
}

export type SendResult =
  | { source: string; ok: true; message_id: string | null; idempotency_key: string }
  | { source: string; ok: false; reason: string; detail: string; idempotency_key: string | null };

export interface MessageFlags {
  template?: string | undefined;
  doc?: string | undefined;
  type?: string | undefined;
  externalId?: string | undefined;
  key?: string | undefined;
  metadata?: readonly string[] | undefined;
}

/** The message the flags describe; `--type` defaults from the document's length (14 characters: `pj`). */
export function messageFromFlags(flags: MessageFlags): SendInput {
  const missing = [
    flags.template === undefined ? '--template' : undefined,
    flags.doc === undefined ? '--doc' : undefined,
  ].filter((flag) => flag !== undefined);
  if (missing.length > 0) {
    throw new UsageError(`send needs a JSON message, --file, or ${missing.join(' and ')}`);
  }
  const doc = flags.doc as string;
  const metadata: Record<string, string> = {};
  for (const pair of flags.metadata ?? []) {
    const at = pair.indexOf('=');
    if (at < 1) throw new UsageError(`--metadata takes key=value, got "${pair}"`);
    metadata[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const message: RunRequestMessage = {
    template_id: flags.template as string,
    subject: {
      type: (flags.type ?? (normaliseDocument(doc).length === 14 ? 'pj' : 'pf')) as 'pf' | 'pj',
      doc,
    },
    ...(flags.externalId === undefined ? {} : { external_id: flags.externalId }),
    ...(flags.metadata === undefined ? {} : { metadata }),
    ...(flags.key === undefined ? {} : { idempotency_key: flags.key }),
  };
  return { source: 'flags', text: JSON.stringify(message) };
}

/** A JSON Lines file's messages, one per non-empty line. @throws UsageError for pretty-printed JSON */
export function messagesFromJsonLines(text: string, name: string): SendInput[] {
  try {
    return jsonLines(text, name).map((line) => ({ source: `${name}:${line.lineNumber}`, text: line.text }));
  } catch (error) {
    if (error instanceof NotJsonLinesError) throw new UsageError(`--file reads JSON Lines: ${error.message}`);
    throw error;
  }
}

/**
 * Validates every message with the worker's own schema, then sends the valid ones, ten per batch.
 * Invalid ones are reported with the reason the DLQ would have given, and never sent.
 */
export async function sendMessages(
  client: { sqs: SQSClient; queueUrl: string } | undefined,
  inputs: readonly SendInput[],
  options: { dryRun?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<SendResult[]> {
  const results: (SendResult | undefined)[] = new Array(inputs.length);
  const valid: { index: number; message: RunRequestMessage; idempotencyKey: string }[] = [];
  for (const [index, input] of inputs.entries()) {
    const invalid = (reason: string, detail: string, idempotencyKey: string | undefined) => {
      results[index] = {
        source: input.source,
        ok: false,
        reason,
        detail: redactDocuments(detail),
        idempotency_key: idempotencyKey ?? null,
      };
    };
    const parsed = parseRunRequestMessage(input.text);
    let json: unknown;
    try {
      json = JSON.parse(input.text);
    } catch {
      json = undefined;
    }
    if (!parsed.ok && (typeof json !== 'object' || json === null || Array.isArray(json))) {
      invalid(parsed.reason, parsed.detail, parsed.idempotencyKey);
      continue;
    }
    try {
      // The producer helper's own check, which also refuses a schema_version other than 1.
      const { idempotencyKey } = buildRunRequestMessage(json as RunRequestMessage);
      valid.push({ index, message: json as RunRequestMessage, idempotencyKey });
    } catch (error) {
      if (!(error instanceof InvalidRunRequestError)) throw error;
      invalid(error.reason, error.detail, parsed.ok ? undefined : parsed.idempotencyKey);
    }
  }

  if (options.dryRun === true || client === undefined) {
    for (const { index, idempotencyKey } of valid) {
      results[index] = {
        source: inputs[index]?.source ?? '',
        ok: true,
        message_id: null,
        idempotency_key: idempotencyKey,
      };
    }
    return results as SendResult[];
  }

  const producer = new RunRequestProducer(client);
  const CHUNK = 100;
  for (let start = 0; start < valid.length; start += CHUNK) {
    const chunk = valid.slice(start, start + CHUNK);
    const sent = await producer.sendMany(chunk.map((entry) => entry.message));
    for (const result of sent) {
      const entry = chunk[result.index];
      if (entry === undefined) continue;
      const source = inputs[entry.index]?.source ?? '';
      results[entry.index] = result.ok
        ? { source, ok: true, message_id: result.messageId, idempotency_key: result.idempotencyKey }
        : {
            source,
            ok: false,
            reason: result.reason,
            detail: result.detail,
            idempotency_key: result.idempotencyKey ?? entry.idempotencyKey,
          };
    }
    options.onProgress?.(Math.min(start + CHUNK, valid.length), valid.length);
  }
  return results as SendResult[];
}

export function renderSendResults(
  results: readonly SendResult[],
  options: { dryRun: boolean; layout?: Layout },
): string {
  const { width } = options.layout ?? PLAIN_LAYOUT;
  const sent = results.filter((result) => result.ok);
  const refused = results.filter((result) => !result.ok);
  const lines: string[] = [];
  if (sent.length > 0) {
    lines.push(
      table(
        ['source', options.dryRun ? 'valid (not sent)' : 'message id', 'idempotency key'],
        sent.map((result) => [result.source, result.message_id ?? 'ok', result.idempotency_key]),
        { width, shrinkable: [['idempotency key', 'message id'], ['source']] },
      ),
    );
  }
  if (refused.length > 0) {
    lines.push(
      table(
        ['source', 'not sent', 'detail'],
        refused.map((result) => [result.source, result.reason, result.detail]),
        { width, shrinkable: [['detail'], ['not sent', 'source']] },
      ),
    );
  }
  const verb = options.dryRun ? 'valid' : 'sent';
  lines.push(
    `${sent.length} ${verb}, ${refused.length} not sent${refused.length > 0 ? ' (invalid or refused: see above)' : ''}.`,
  );
  return lines.join('\n');
}
