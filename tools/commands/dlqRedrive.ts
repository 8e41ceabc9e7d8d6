import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DeleteMessageCommand,
  ListMessageMoveTasksCommand,
  SendMessageCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { redactDocuments } from '../../functions/kycert-worker/brazilianDocument.js';
import { OutcomeStatus, OutcomeStore } from '../../functions/kycert-worker/outcomeStore.js';
import {
  deriveIdempotencyKey,
  parseRunRequestMessage,
} from '../../functions/kycert-worker/runRequestMessage.js';
import { type DeadLetter, type HeldDeadLetter, holdDeadLetters, matchesReason } from '../deadLetters.js';
import { CliError, UsageError } from '../errors.js';
import { freshIdempotencyKey } from '../freshKey.js';
import { type JsonLine, jsonLines, NotJsonLinesError } from '../jsonLines.js';
import { DEFAULT_OUTCOME_TTL_SECONDS, type Outcome, toOutcome, ttlSecondsOf } from '../outcome.js';
import { cut, type Layout, PLAIN_LAYOUT, table } from '../output.js';

/** A corrected body from `--bodies`, matched to its DLQ message by message id or by idempotency key. */
export interface Correction {
  source: string;
  /** From the `{"message_id": …, "body": …}` form. */
  messageId?: string | undefined;
  /** The corrected body, as text. */
  text: string;
}

export interface RedriveOptions {
  /** Prefixes of the reason attribute; `none` selects messages without one. */
  reasons?: readonly string[];
  keys?: readonly string[];
  messageIds?: readonly string[];
  /** Redrive the selected messages unchanged but under a fresh key (linked from the old outcome). */
  freshKey?: boolean;
  /** `--bodies`: the corrected bodies; only the messages they match are redriven. */
  corrections?: readonly Correction[];
  /** `--edit`: returns the corrected body, or undefined to leave the message in the DLQ. */
  edit?: (message: DeadLetter) => Promise<string | undefined>;
  /** Send `kycert_rejected` copies unchanged, or use a fresh key for a key that succeeded or is still running. */
  force?: boolean;
  dryRun?: boolean;
  /** Use SQS's move task for "all of them" where it exists. @default true */
  moveTask?: boolean;
  /** Wait for the move task to finish. @default true */
  wait?: boolean;
  /** @default 10 minutes */
  waitTimeoutMs?: number;
  /** How long the DLQ's messages stay hidden while this runs. @default 300 s (1 800 s with `edit`) */
  holdSeconds?: number;
  /** @default 10 000 messages */
  maxMessages?: number;
  nowMs?: () => number;
  sleep?: (ms: number) => Promise<void>;
  onProgress?: (done: number, total: number) => void;
  /**
   * Asked once the selection is known and before anything changes, with the number of messages that would
   * go back; throws to change nothing. Not asked for a dry run. The CLI asks when it is more than one.
   */
  confirm?: (count: number) => Promise<void>;
}

export interface RedriveTarget {
  sqs: SQSClient;
  dynamodb: DynamoDBClient;
  queueUrl: string;
  deadLetterQueueUrl: string;
  tableName: string;
  /** The worker's IDEMPOTENCY_WINDOW_HOURS. */
  idempotencyWindowHours: number;
  /** Present where SQS's StartMessageMoveTask exists (AWS). */
  moveTask?: { queueArn(): Promise<string>; deadLetterQueueArn(): Promise<string> } | undefined;
}

export const RedriveAction = {
  redriven: 'redriven',
  redrivenFreshKey: 'redriven_fresh_key',
  wouldRedrive: 'would_redrive',
  wouldRedriveFreshKey: 'would_redrive_fresh_key',
  skipped: 'skipped',
  failed: 'failed',
} as const;
export type RedriveAction = (typeof RedriveAction)[keyof typeof RedriveAction];

export interface RedriveResult {
  message_id: string;
  reason: string | null;
  idempotency_key: string | null;
  action: RedriveAction;
  /** The fresh key of a corrected or `--fresh-key` copy. */
  new_idempotency_key: string | null;
  /** The copy's id on the requests queue (not known for the move task). */
  new_message_id: string | null;
  /** The outcome was reopened (`failed` → `retry_scheduled`) so that the worker calls kycert again. */
  reopened: boolean;
  note: string | null;
}

export interface MoveTaskReport {
  task_handle: string | null;
  status: string;
  moved: number | null;
  to_move: number | null;
  failure_reason: string | null;
}

export interface RedriveReport {
  method: 'move_task' | 'per_message' | 'dry_run' | 'none';
  results: RedriveResult[];
  move_task: MoveTaskReport | null;
  notes: string[];
}

type Plan =
  | {
      kind: 'send';
      message: HeldDeadLetter;
      outcome: Outcome | undefined;
      body: string;
      newKey: string | null;
      reopen: boolean;
      note: string | null;
    }
  | { kind: 'skip'; message: HeldDeadLetter; why: string };

const HOLD_SECONDS = 300;
const EDIT_HOLD_SECONDS = 1_800;
const MOVE_TASK_POLL_MS = 2_000;

/**
 * Moves DLQ messages back to the requests queue (docs/operations.md, "Redrive"). Unchanged copies keep their
 * key, and their failed outcome is reopened first; corrected or `--fresh-key` copies get a fresh key and the
 * old outcome records `superseded_by`. Order per message: reopen → send → link → delete from the DLQ, so a
 * failure leaves the message in the DLQ and, at worst, sends a copy twice (the worker's idempotency absorbs it).
 */
export async function redriveDeadLetters(
  target: RedriveTarget,
  options: RedriveOptions = {},
): Promise<RedriveReport> {
  const nowMs = options.nowMs ?? Date.now;
  const modes = [options.freshKey === true, options.corrections !== undefined, options.edit !== undefined];
  if (modes.filter(Boolean).length > 1) {
    throw new UsageError('choose one of --fresh-key, --bodies and --edit');
  }
  const reasons = options.reasons ?? [];
  const keys = options.keys ?? [];
  const messageIds = options.messageIds ?? [];
  const filtered = reasons.length + keys.length + messageIds.length > 0;

  const held = await holdDeadLetters(target.sqs, target.deadLetterQueueUrl, {
    holdSeconds: options.holdSeconds ?? (options.edit === undefined ? HOLD_SECONDS : EDIT_HOLD_SECONDS),
    maxMessages: options.maxMessages ?? 10_000,
  });
  const deleted = new Set<string>();
  const notes: string[] = [];
  let movedByTask = false;
  try {
    if (held.truncated) {
      notes.push(
        `Only the first ${held.messages.length} DLQ messages were looked at; run again for the rest.`,
      );
    }
    let selected = held.messages.filter(
      (m) =>
        matchesReason(m, reasons) &&
        (keys.length === 0 || keys.includes(m.idempotency_key ?? '')) &&
        (messageIds.length === 0 || messageIds.includes(m.message_id)),
    );
    const corrected =
      options.corrections === undefined ? undefined : matchCorrections(selected, options.corrections);
    if (corrected !== undefined) selected = selected.filter((m) => corrected.has(m.message_id));
    if (selected.length === 0) {
      if (filtered || corrected !== undefined) throw new CliError('no DLQ message matches the selection');
      return { method: 'none', results: [], move_task: null, notes: [...notes, 'The DLQ is empty.'] };
    }
    // The others go back at once: only the selection stays hidden while this runs (and if it is interrupted).
    await held.release(new Set(selected.map((m) => m.message_id)));

    const outcomes = await readOutcomes(target, selected);
    const windowMs = target.idempotencyWindowHours * 3_600_000;
    const plans: Plan[] = [];
    for (const message of selected) {
      const outcome = message.idempotency_key === null ? undefined : outcomes.get(message.idempotency_key);
      let correction: string | undefined;
      if (corrected !== undefined) correction = corrected.get(message.message_id);
      if (options.edit !== undefined) {
        correction = await options.edit(message);
        if (correction === undefined || correction.trim() === message.body.trim()) {
          plans.push({
            kind: 'skip',
            message,
            why: 'not changed in the editor (use --fresh-key to send it unchanged under a fresh key)',
          });
          continue;
        }
      }
      plans.push(
        correction !== undefined || options.freshKey === true
          ? planFreshKey(message, outcome, correction, options)
          : planUnchanged(message, outcome, options, nowMs(), windowMs, target.idempotencyWindowHours),
      );
    }

    if (options.dryRun === true) {
      return { method: 'dry_run', results: plans.map(dryRunResult), move_task: null, notes };
    }
    const sending = plans.filter((plan) => plan.kind === 'send').length;
    if (sending > 0) await options.confirm?.(sending);

    const everyMessage = !filtered && corrected === undefined && options.edit === undefined;
    const unchanged = options.freshKey !== true && options.edit === undefined && corrected === undefined;
    const blocked = plans.filter((plan) => plan.kind === 'skip').length;
    if (everyMessage && unchanged && target.moveTask !== undefined && options.moveTask !== false) {
      if (blocked === 0) {
        movedByTask = true;
        return await moveEverything(target, target.moveTask, plans, held, options, notes, nowMs);
      }
      notes.push(
        `SQS's move task moves every message, and ${blocked} cannot go back unchanged, so messages were ` +
          'moved one by one instead.',
      );
    } else if (everyMessage && unchanged && target.moveTask === undefined && options.moveTask !== false) {
      notes.push('No SQS move task here (the local emulator has none): messages were moved one by one.');
    }

    const results: RedriveResult[] = [];
    let done = 0;
    for (const plan of plans) {
      const result = await execute(target, plan, nowMs);
      if (result.action === RedriveAction.redriven || result.action === RedriveAction.redrivenFreshKey) {
        deleted.add(plan.message.message_id);
      }
      results.push(result);
      options.onProgress?.(++done, plans.length);
    }
    return { method: 'per_message', results, move_task: null, notes };
  } finally {
    if (!movedByTask) {
      await held.release(deleted).catch((error: Error) => {
        notes.push(error.message);
      });
    }
  }
}

/** The messages each correction applies to. @throws CliError for a line that matches none, or a message matched twice. */
export function matchCorrections(
  messages: readonly HeldDeadLetter[],
  corrections: readonly Correction[],
): Map<string, string> {
  const matched = new Map<string, string>();
  const bySource = new Map<string, string>();
  const problems: string[] = [];
  for (const correction of corrections) {
    let key: string | undefined;
    if (correction.messageId === undefined) {
      try {
        const json = JSON.parse(correction.text) as Record<string, unknown>;
        key =
          typeof json.idempotency_key === 'string'
            ? json.idempotency_key
            : typeof json.template_id === 'string' && typeof json.external_id === 'string'
              ? deriveIdempotencyKey(json.template_id, json.external_id)
              : undefined;
      } catch {
        key = undefined;
      }
    }
    const hits = messages.filter((m) =>
      correction.messageId !== undefined
        ? m.message_id === correction.messageId
        : key !== undefined && m.idempotency_key === key,
    );
    if (hits.length === 0) {
      problems.push(
        `${correction.source} matches no selected DLQ message (${
          correction.messageId !== undefined
            ? `message id ${correction.messageId}`
            : key === undefined
              ? 'no idempotency_key, nor template_id and external_id, to match by: use {"message_id": …, "body": …}'
              : `key ${key}`
        })`,
      );
    }
    for (const hit of hits) {
      const earlier = bySource.get(hit.message_id);
      if (earlier !== undefined) {
        problems.push(`${correction.source} and ${earlier} both correct DLQ message ${hit.message_id}`);
      }
      bySource.set(hit.message_id, correction.source);
      matched.set(hit.message_id, correction.text);
    }
  }
  if (problems.length > 0) throw new CliError(`--bodies: ${problems.join('; ')}. Nothing was redriven.`);
  return matched;
}

/** `--bodies FILE`: one corrected body per line, or `{"message_id": "…", "body": {…}}`. */
export function correctionsFromJsonLines(text: string, name: string): Correction[] {
  const corrections: Correction[] = [];
  let lines: JsonLine[];
  try {
    lines = jsonLines(text, name);
  } catch (error) {
    if (error instanceof NotJsonLinesError)
      throw new UsageError(`--bodies reads JSON Lines: ${error.message}`);
    throw error;
  }
  for (const { lineNumber, text: line } of lines) {
    const source = `${name}:${lineNumber}`;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new UsageError(`${source} is not JSON`);
    }
    const wrapper = json as Record<string, unknown>;
    const keys = typeof json === 'object' && json !== null ? Object.keys(json) : [];
    if (keys.includes('message_id') && keys.includes('body') && keys.length === 2) {
      if (typeof wrapper.message_id !== 'string')
        throw new UsageError(`${source}: message_id must be a string`);
      corrections.push({
        source,
        messageId: wrapper.message_id,
        text: typeof wrapper.body === 'string' ? wrapper.body : JSON.stringify(wrapper.body),
      });
    } else {
      corrections.push({ source, text: line });
    }
  }
  return corrections;
}

function planUnchanged(
  message: HeldDeadLetter,
  outcome: Outcome | undefined,
  options: RedriveOptions,
  nowMs: number,
  windowMs: number,
  windowHours: number,
): Plan {
  const skip = (why: string): Plan => ({ kind: 'skip', message, why });
  const send = (reopen: boolean, note: string | null): Plan => ({
    kind: 'send',
    message,
    outcome,
    body: message.body,
    newKey: null,
    reopen,
    note,
  });
  const parsed = parseRunRequestMessage(message.body);
  if (!parsed.ok) {
    return skip(
      `the body is invalid (${parsed.reason}): it would be dead-lettered again; correct it with --edit or --bodies`,
    );
  }
  if (outcome?.superseded_by !== undefined) {
    return skip(
      `already redriven under key ${outcome.superseded_by} (kycert-queue status ${outcome.superseded_by})`,
    );
  }
  if (outcome?.status === OutcomeStatus.succeeded) {
    return send(
      false,
      `the key already succeeded (run ${outcome.run_id ?? '?'}): the worker acknowledges this copy without calling kycert`,
    );
  }
  const firstAttemptMs =
    outcome?.first_attempt_at === undefined ? Number.NaN : Date.parse(outcome.first_attempt_at);
  if ((message.reason ?? '').startsWith('idempotency_window_expired') || nowMs - firstAttemptMs >= windowMs) {
    return skip(
      `the key's ${windowHours} h window has passed${
        outcome?.first_attempt_at === undefined ? '' : ` (first attempt ${outcome.first_attempt_at})`
      }, so the worker would dead-letter it again: check with kycert that no run exists for it, then use --fresh-key`,
    );
  }
  if ((message.reason ?? '').startsWith('kycert_rejected:')) {
    if (options.force !== true) {
      return skip(
        'kycert keeps its 4xx answer under this key, so an unchanged copy gets it back: fix the cause, then ' +
          'use --fresh-key (or --edit / --bodies), or --force to send it unchanged anyway',
      );
    }
    return send(
      outcome?.status === OutcomeStatus.failed,
      'sent unchanged (--force): kycert may answer the same 4xx',
    );
  }
  return send(outcome?.status === OutcomeStatus.failed, null);
}

function planFreshKey(
  message: HeldDeadLetter,
  outcome: Outcome | undefined,
  correction: string | undefined,
  options: RedriveOptions,
): Plan {
  const skip = (why: string): Plan => ({ kind: 'skip', message, why });
  const text = correction ?? message.body;
  const what = correction === undefined ? 'the body' : 'the corrected body';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return skip(`${what} is not a JSON object; correct it with --edit or --bodies`);
  }
  if (options.force !== true && outcome?.status === OutcomeStatus.succeeded) {
    return skip(
      `the key already succeeded (run ${outcome.run_id ?? '?'}): a fresh key would buy a second run; --force to do it anyway`,
    );
  }
  if (
    options.force !== true &&
    (outcome?.status === OutcomeStatus.inProgress || outcome?.status === OutcomeStatus.retryScheduled)
  ) {
    return skip(
      `the key is still ${outcome.status} (a copy is being retried): a fresh key could buy a second run; ` +
        'wait for it, or --force',
    );
  }
  const request = json as Record<string, unknown>;
  const newKey = freshIdempotencyKey(message.idempotency_key ?? `message:${message.message_id}`, request);
  const body = JSON.stringify({ ...request, idempotency_key: newKey });
  const parsed = parseRunRequestMessage(body);
  if (!parsed.ok) {
    return skip(`${what} is invalid (${parsed.reason}: ${redactDocuments(parsed.detail)})`);
  }
  const notes = [
    correction !== undefined && sameRequest(correction, message.body)
      ? 'the corrected body is the original one: sent under a fresh key'
      : undefined,
    outcome?.superseded_by !== undefined && outcome.superseded_by !== newKey
      ? `the old key was superseded by ${outcome.superseded_by} before; it now points to the new key`
      : undefined,
  ].filter((note) => note !== undefined);
  return {
    kind: 'send',
    message,
    outcome,
    body,
    newKey,
    reopen: false,
    note: notes.length === 0 ? null : notes.join('; '),
  };
}

async function execute(target: RedriveTarget, plan: Plan, nowMs: () => number): Promise<RedriveResult> {
  const base = {
    message_id: plan.message.message_id,
    reason: plan.message.reason,
    idempotency_key: plan.message.idempotency_key,
    new_idempotency_key: plan.kind === 'send' ? plan.newKey : null,
    new_message_id: null,
    reopened: false,
  };
  if (plan.kind === 'skip') return { ...base, action: RedriveAction.skipped, note: plan.why };
  const failed = (note: string, extra: Partial<RedriveResult> = {}): RedriveResult => ({
    ...base,
    ...extra,
    action: RedriveAction.failed,
    note: `${note}; the message is still in the DLQ`,
  });
  const key = plan.message.idempotency_key;
  const store = new OutcomeStore({
    client: target.dynamodb,
    tableName: target.tableName,
    ttlSeconds: ttlSecondsOf(plan.outcome, DEFAULT_OUTCOME_TTL_SECONDS),
  });

  let reopened = false;
  if (plan.reopen && key !== null) {
    try {
      reopened = await store.reopenForRedrive(key, { nowMs: nowMs() });
      if (!reopened) {
        // Another DLQ copy of this key may have reopened it a moment ago: then this copy may go too.
        const now = await readOutcome(target, key);
        const open = now?.status === OutcomeStatus.retryScheduled || now?.status === OutcomeStatus.inProgress;
        if (!open || now?.superseded_by !== undefined) {
          return {
            ...base,
            action: RedriveAction.skipped,
            note: `the outcome changed meanwhile (now ${now?.status ?? 'absent'}); run the redrive again to re-check`,
          };
        }
      }
    } catch (error) {
      return failed(`could not reopen the outcome: ${(error as Error).message}`);
    }
  }
  let newMessageId: string | null;
  try {
    const { MessageId } = await target.sqs.send(
      new SendMessageCommand({ QueueUrl: target.queueUrl, MessageBody: plan.body }),
    );
    newMessageId = MessageId ?? null;
  } catch (error) {
    return failed(
      `could not send it to the requests queue: ${(error as Error).message}` +
        (reopened ? ' (its outcome was reopened; redriving again sends it)' : ''),
      { reopened },
    );
  }
  if (plan.newKey !== null && key !== null && plan.outcome !== undefined) {
    try {
      await store.markSuperseded(key, plan.newKey, { nowMs: nowMs() });
    } catch (error) {
      return failed(
        `sent as ${newMessageId} under ${plan.newKey}, but the old outcome's superseded_by was not written ` +
          `(${(error as Error).message}); redriving it again reuses the same key`,
        { new_message_id: newMessageId },
      );
    }
  }
  try {
    await target.sqs.send(
      new DeleteMessageCommand({
        QueueUrl: target.deadLetterQueueUrl,
        ReceiptHandle: plan.message.receiptHandle,
      }),
    );
  } catch (error) {
    return failed(
      `sent as ${newMessageId}, but not deleted from the DLQ (${(error as Error).message}); redriving it again ` +
        'is absorbed by the idempotency key',
      { new_message_id: newMessageId, reopened },
    );
  }
  return {
    ...base,
    action: plan.newKey === null ? RedriveAction.redriven : RedriveAction.redrivenFreshKey,
    new_message_id: newMessageId,
    reopened,
    note: plan.note,
  };
}

/**
 * "All of them" where SQS has a move task: reopen the failed outcomes, make the messages visible again, and let
 * SQS move the lot. Every message was checked first; one dead-lettered after the check moves unchanged
 * without its outcome reopened (the note says how many).
 */
async function moveEverything(
  target: RedriveTarget,
  arns: NonNullable<RedriveTarget['moveTask']>,
  plans: readonly Plan[],
  held: Awaited<ReturnType<typeof holdDeadLetters>>,
  options: RedriveOptions,
  notes: string[],
  nowMs: () => number,
): Promise<RedriveReport> {
  const results: RedriveResult[] = [];
  for (const plan of plans) {
    if (plan.kind !== 'send') continue;
    const key = plan.message.idempotency_key;
    let reopened = false;
    if (plan.reopen && key !== null) {
      const store = new OutcomeStore({
        client: target.dynamodb,
        tableName: target.tableName,
        ttlSeconds: ttlSecondsOf(plan.outcome, DEFAULT_OUTCOME_TTL_SECONDS),
      });
      try {
        reopened = await store.reopenForRedrive(key, { nowMs: nowMs() });
      } catch (error) {
        await held.release(new Set());
        throw new CliError(
          `could not reopen the outcome of ${key} (${(error as Error).message}); nothing was moved`,
          undefined,
          { cause: error },
        );
      }
    }
    results.push({
      message_id: plan.message.message_id,
      reason: plan.message.reason,
      idempotency_key: key,
      action: RedriveAction.redriven,
      new_idempotency_key: null,
      new_message_id: null,
      reopened,
      note: plan.note ?? 'moved by the SQS move task',
    });
  }
  await held.release(new Set());
  const sourceArn = await arns.deadLetterQueueArn();
  let taskHandle: string | undefined;
  try {
    ({ TaskHandle: taskHandle } = await target.sqs.send(
      new StartMessageMoveTaskCommand({ SourceArn: sourceArn, DestinationArn: await arns.queueArn() }),
    ));
  } catch (error) {
    throw new CliError(
      `SQS refused the move task: ${(error as Error).message} (the outcomes were reopened; ` +
        'redriving again sends the messages)',
      undefined,
      { cause: error },
    );
  }
  const moveTask: MoveTaskReport = {
    task_handle: taskHandle ?? null,
    status: 'RUNNING',
    moved: null,
    to_move: null,
    failure_reason: null,
  };
  if (options.wait !== false) {
    const sleep = options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
    const deadlineMs = nowMs() + (options.waitTimeoutMs ?? 600_000);
    for (;;) {
      const { Results = [] } = await target.sqs.send(
        new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 1 }),
      );
      const task = Results.find((t) => taskHandle === undefined || t.TaskHandle === taskHandle) ?? Results[0];
      moveTask.status = task?.Status ?? 'UNKNOWN';
      moveTask.moved = task?.ApproximateNumberOfMessagesMoved ?? null;
      moveTask.to_move = task?.ApproximateNumberOfMessagesToMove ?? null;
      moveTask.failure_reason = task?.FailureReason ?? null;
      if (moveTask.to_move !== null) options.onProgress?.(moveTask.moved ?? 0, moveTask.to_move);
      if (moveTask.status !== 'RUNNING' && moveTask.status !== 'CANCELLING') break;
      if (nowMs() >= deadlineMs) {
        notes.push(
          'The move task is still running; follow it with `aws sqs list-message-move-tasks --source-arn ' +
            `${sourceArn}\`.`,
        );
        break;
      }
      await sleep(MOVE_TASK_POLL_MS);
    }
    if (moveTask.status === 'FAILED' || moveTask.status === 'CANCELLED') {
      notes.push(
        `The move task ended ${moveTask.status}${moveTask.failure_reason === null ? '' : `: ${moveTask.failure_reason}`}; ` +
          'the messages not moved are still in the DLQ (their outcomes are reopened: redrive again).',
      );
      for (const result of results) {
        result.action = RedriveAction.failed;
        result.note = `move task ${moveTask.status}: this message may still be in the DLQ`;
      }
    } else if (moveTask.moved !== null && moveTask.moved > results.length) {
      notes.push(
        `SQS moved ${moveTask.moved - results.length} message(s) more than were checked: they reached the DLQ ` +
          "after the check, and a failed key's copy is acknowledged without a call. `kycert-queue list --status " +
          'failed --since 1h` shows them; correct them with --fresh-key once they are back in the DLQ.',
      );
    }
  } else {
    notes.push('Not waiting for the move task (--no-wait).');
  }
  return { method: 'move_task', results, move_task: moveTask, notes };
}

async function readOutcomes(
  target: RedriveTarget,
  messages: readonly DeadLetter[],
): Promise<Map<string, Outcome>> {
  const outcomes = new Map<string, Outcome>();
  for (const key of new Set(messages.map((m) => m.idempotency_key).filter((k) => k !== null))) {
    const outcome = await readOutcome(target, key);
    if (outcome !== undefined) outcomes.set(key, outcome);
  }
  return outcomes;
}

async function readOutcome(target: RedriveTarget, key: string): Promise<Outcome | undefined> {
  const { Item } = await target.dynamodb.send(
    new GetItemCommand({
      TableName: target.tableName,
      Key: { idempotency_key: { S: key } },
      ConsistentRead: true,
    }),
  );
  return Item === undefined ? undefined : toOutcome(Item);
}

function dryRunResult(plan: Plan): RedriveResult {
  return {
    message_id: plan.message.message_id,
    reason: plan.message.reason,
    idempotency_key: plan.message.idempotency_key,
    action:
      plan.kind === 'skip'
        ? RedriveAction.skipped
        : plan.newKey === null
          ? RedriveAction.wouldRedrive
          : RedriveAction.wouldRedriveFreshKey,
    new_idempotency_key: plan.kind === 'send' ? plan.newKey : null,
    new_message_id: null,
    reopened: false,
    note:
      plan.kind === 'skip'
        ? plan.why
        : [plan.reopen ? 'its failed outcome would be reopened' : undefined, plan.note ?? undefined]
            .filter((note) => note !== undefined)
            .join('; ') || null,
  };
}

function sameRequest(a: string, b: string): boolean {
  try {
    const { idempotency_key: _a, ...left } = JSON.parse(a) as Record<string, unknown>;
    const { idempotency_key: _b, ...right } = JSON.parse(b) as Record<string, unknown>;
    return JSON.stringify(left) === JSON.stringify(right);
  } catch {
    return false;
  }
}

/** Redrive results that did not go back: the CLI exits 1 when there is any. */
export function unfinished(report: RedriveReport): RedriveResult[] {
  return report.results.filter(
    (result) => result.action === RedriveAction.skipped || result.action === RedriveAction.failed,
  );
}

export function renderRedriveReport(report: RedriveReport, layout: Layout = PLAIN_LAYOUT): string {
  const lines: string[] = [];
  if (report.results.length > 0) {
    lines.push(
      table(
        ['message id', 'reason', 'idempotency key', 'result', 'new key', 'note'],
        report.results.map((r) => [
          r.message_id,
          r.reason ?? '(none)',
          r.idempotency_key ?? '(none)',
          r.action + (r.reopened ? ' (reopened)' : ''),
          r.new_idempotency_key,
          cut(r.note ?? '', 160, layout),
        ]),
        {
          width: layout.width,
          shrinkable: [['note'], ['new key', 'idempotency key', 'message id'], ['reason', 'result']],
        },
      ),
    );
  }
  if (report.move_task !== null) {
    const t = report.move_task;
    lines.push(
      `SQS move task ${t.task_handle ?? ''}: ${t.status}${t.moved === null ? '' : `, ${t.moved}/${t.to_move ?? '?'} moved`}`,
    );
  }
  const count = (...actions: RedriveAction[]) =>
    report.results.filter((r) => actions.includes(r.action)).length;
  if (report.method === 'dry_run') {
    lines.push(
      `Dry run: ${count(RedriveAction.wouldRedrive, RedriveAction.wouldRedriveFreshKey)} would be redriven, ` +
        `${count(RedriveAction.skipped)} would stay in the DLQ. Nothing was changed.`,
    );
  } else if (report.method !== 'none') {
    lines.push(
      `${count(RedriveAction.redriven, RedriveAction.redrivenFreshKey)} redriven, ` +
        `${count(RedriveAction.skipped)} skipped, ${count(RedriveAction.failed)} failed` +
        (count(RedriveAction.skipped, RedriveAction.failed) > 0
          ? ' (still in the DLQ: see the notes above).'
          : '.'),
    );
  }
  lines.push(...report.notes);
  return lines.join('\n');
}
