import { createHash, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { readRequestBody } from '../http/readRequestBody.js';
import { maskDocument } from './brazilianDocument.js';
import type { FixedWindowRateLimiter, RateLimitDecision } from './fixedWindowRateLimiter.js';
import type { IdempotencyClaim, IdempotencyStore } from './idempotencyStore.js';
import { type KycertErrorBody, KycertErrorType, kycertError } from './kycertError.js';
import {
  type FaultScript,
  type ResolvedApiKey,
  type SandboxFaults,
  Scope,
  type ScriptedFault,
} from './options.js';
import { maskApiKey, type SandboxLogEntry } from './requestLog.js';
import { formatRetryAfter } from './retryAfter.js';
import { createdRunBody, type RunStore, runView } from './runStore.js';
import { FaultKind, type SandboxPost, type StatsRecorder } from './sandboxStats.js';
import { validateCreateRunBody } from './validateCreateRunBody.js';
import type { WebhookSender } from './webhookSender.js';

/** What the handler reads and changes; the sandbox object mutates `state` at run time. */
export interface SandboxContext {
  state: {
    faults: SandboxFaults;
    apiKeys: ReadonlyMap<string, ResolvedApiKey>;
    creditsRemaining: number;
  };
  clock: () => number;
  random: () => number;
  sleep: (delayMs: number, signal: AbortSignal) => Promise<void>;
  /** Aborted when the sandbox closes, so that held requests give up. */
  closing: AbortSignal;
  rateLimiter: FixedWindowRateLimiter;
  idempotency: IdempotencyStore;
  runs: RunStore;
  stats: StatsRecorder;
  /** The `estimated_seconds` of a new run of this template (and how long it stays queued). */
  estimatedSecondsFor: (templateId: string) => number;
  webhooks: WebhookSender;
  isKnownTemplate: (templateId: string) => boolean;
  faultScript: FaultScript | undefined;
  /** POSTs seen per Idempotency-Key, for `faultScript`. */
  postsByKey: Map<string, number>;
  /** Whether a 402 or a 403 is kept under the key and replayed (see SandboxOptions.keepAccountErrors). */
  keepAccountErrors: boolean;
  log: ((entry: SandboxLogEntry) => void) | undefined;
}

export const API_PREFIX = '/api/v1';
/** A valid body is a few KiB at most (10 metadata values of 500 characters). */
const MAX_BODY_BYTES = 64 * 1024;
const MAX_IDEMPOTENCY_KEY_CHARS = 255;

type Route =
  | { kind: 'createRun' }
  | { kind: 'getRun'; runId: string }
  | { kind: 'methodNotAllowed'; allow: string }
  | { kind: 'notFound' };

/** The request as read once, before any decision. */
interface Call {
  requestId: string;
  method: string;
  path: string;
  route: Route;
  bodyText: string;
  bodyTooLarge: boolean;
  nowMs: number;
  apiKey: ResolvedApiKey | undefined;
  rateLimit: RateLimitDecision;
  idempotencyKey: string | undefined;
  /** What `faultScript` chose for this POST. */
  scripted?: ScriptedFault | undefined;
  /** The stats entry of a POST with an Idempotency-Key; `deliver` records its answer. */
  post?: SandboxPost | undefined;
}

/** The decision about one request; `deliver` turns it into bytes (or a destroyed socket). */
interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** Only for a created run: the `…AfterCreate` faults. */
  delivery?: { kind: 'reset' } | { kind: 'delayed'; delayMs: number };
  runId?: string;
  fault?: FaultKind;
  replayed?: true;
  /** Masked; for the log. */
  doc?: string;
}

export function createRequestHandler(
  ctx: SandboxContext,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(ctx, req, res).catch((error: unknown) => {
      if (ctx.closing.aborted) {
        res.destroy();
        return;
      }
      // A sandbox bug must still answer, or the client under test would hang until its own timeout.
      console.error('kycert sandbox: unexpected error', error);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
        res.end(
          JSON.stringify(kycertError(KycertErrorType.api, 'internal_error', 'Sandbox bug; see its stderr.')),
        );
      } else {
        res.destroy();
      }
    });
  };
}

async function handle(ctx: SandboxContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const startedAtMs = performance.now();
  ctx.stats.requests += 1;
  const method = req.method ?? 'GET';
  const path = new URL(req.url ?? '/', 'http://sandbox').pathname;
  const route = matchRoute(method, path);
  const { body, tooLarge: bodyTooLarge } = await readRequestBody(req, MAX_BODY_BYTES);
  const bodyText = body.toString('utf8');
  const nowMs = ctx.clock();
  const presentedKey = presentedApiKey(req.headers);
  const apiKey = presentedKey === undefined ? undefined : ctx.state.apiKeys.get(presentedKey);
  // Unauthenticated requests share a bucket per address, as a gateway would count them.
  const bucket = apiKey === undefined ? `anonymous:${req.socket.remoteAddress ?? '?'}` : `key:${apiKey.key}`;
  const call: Call = {
    requestId: `req_${randomUUID().replaceAll('-', '').slice(0, 16)}`,
    method,
    path,
    route,
    bodyText,
    bodyTooLarge,
    nowMs,
    apiKey,
    rateLimit: ctx.rateLimiter.consume(bucket, nowMs),
    idempotencyKey: singleHeader(req.headers, 'idempotency-key'),
  };
  if (route.kind === 'createRun') {
    ctx.stats.postRuns += 1;
    if (call.idempotencyKey !== undefined) {
      ctx.stats.body(call.idempotencyKey, bodyText);
      call.post = ctx.stats.post(call.idempotencyKey, nowMs);
    }
  } else if (route.kind === 'getRun') {
    ctx.stats.getRuns += 1;
  }
  const answer = await answerFor(ctx, call);
  await deliver(ctx, req, res, call, answer, startedAtMs);
}

async function answerFor(ctx: SandboxContext, call: Call): Promise<Answer> {
  const { route } = call;
  if (!call.rateLimit.allowed) {
    const delaySeconds = (call.rateLimit.resetAtMs - call.nowMs) / 1000;
    return rateLimited(
      ctx,
      call,
      delaySeconds,
      'rate_limit_exceeded',
      'Too many requests for this API key in this window.',
    );
  }
  if (route.kind === 'notFound') {
    return error(
      404,
      KycertErrorType.invalidRequest,
      'route_not_found',
      `No route for ${call.method} ${call.path}.`,
    );
  }
  if (route.kind === 'methodNotAllowed') {
    return {
      ...error(
        405,
        KycertErrorType.invalidRequest,
        'method_not_allowed',
        `${call.path} accepts ${route.allow} only.`,
      ),
      headers: { allow: route.allow },
    };
  }
  if (call.apiKey === undefined) {
    return error(
      401,
      KycertErrorType.authentication,
      'invalid_api_key',
      'Missing or unknown API key; send it as x-api-key or Authorization: Bearer.',
    );
  }
  return route.kind === 'createRun'
    ? createRun(ctx, call, call.apiKey)
    : getRun(ctx, call, call.apiKey, route.runId);
}

/**
 * The order of the checks is the contract the worker relies on: anything refused before the key is claimed
 * (401, 429, injected 5xx/409, 413, a malformed key) leaves no trace under the key; from the claim on, the
 * answer is kept (2xx and 4xx) and replayed.
 */
async function createRun(ctx: SandboxContext, call: Call, apiKey: ResolvedApiKey): Promise<Answer> {
  const faults = ctx.state.faults;
  call.scripted = scriptFault(ctx, call);
  const early = injectedFault(ctx, call);
  if (early !== undefined) return early;
  if (call.scripted === 'inProgress' || draw(ctx, faults.inProgressRate)) {
    return { ...inProgress(), fault: FaultKind.inProgress };
  }
  if (call.bodyTooLarge) {
    return error(
      413,
      KycertErrorType.invalidRequest,
      'request_too_large',
      `The body exceeds ${MAX_BODY_BYTES} bytes.`,
    );
  }
  const key = call.idempotencyKey;
  if (key !== undefined && (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_CHARS)) {
    return error(
      400,
      KycertErrorType.invalidRequest,
      'invalid_idempotency_key',
      `Idempotency-Key must be 1 to ${MAX_IDEMPOTENCY_KEY_CHARS} characters.`,
      'Idempotency-Key',
    );
  }

  let claim: IdempotencyClaim | undefined;
  if (key !== undefined) {
    const bodyHash = createHash('sha256').update(call.bodyText).digest('hex');
    const lookup = ctx.idempotency.begin(apiKey.tenant, key, bodyHash, call.nowMs);
    if (lookup.kind === 'inProgress') return inProgress();
    if (lookup.kind === 'reused') {
      return error(
        422,
        KycertErrorType.idempotency,
        'idempotency_key_reused',
        'This Idempotency-Key was used with a different request body; a retry must be byte-identical.',
        'Idempotency-Key',
      );
    }
    if (lookup.kind === 'replay') {
      await processingTime(ctx);
      ctx.stats.replays += 1;
      const { status, body } = lookup.response;
      return {
        status: status >= 200 && status < 300 ? 200 : status,
        body,
        headers: { 'idempotent-replayed': 'true' },
        replayed: true,
        ...runIdOf(body),
      };
    }
    claim = lookup.claim;
  }

  try {
    await processingTime(ctx);
    const answer = createRunNow(ctx, call, apiKey);
    if (claim !== undefined) {
      if (isKept(answer.status, ctx.keepAccountErrors))
        ctx.idempotency.complete(claim, { status: answer.status, body: answer.body });
      else ctx.idempotency.release(claim);
    }
    return answer;
  } catch (caught) {
    if (claim !== undefined) ctx.idempotency.release(claim);
    throw caught;
  }
}

function createRunNow(ctx: SandboxContext, call: Call, apiKey: ResolvedApiKey): Answer {
  if (!apiKey.scopes.has(Scope.runsWrite)) return missingScope(Scope.runsWrite);
  const validation = validateCreateRunBody(call.bodyText, apiKey.key.startsWith('sk_test_'));
  if (!validation.ok) return { status: 400, body: validation.error };
  const request = validation.request;
  const doc = maskDocument(request.subject.doc);
  if (!ctx.isKnownTemplate(request.templateId)) {
    return {
      ...error(404, KycertErrorType.invalidRequest, 'template_not_found', 'No such template.', 'template_id'),
      doc,
    };
  }
  if (ctx.state.creditsRemaining < 1) {
    return {
      ...error(
        402,
        KycertErrorType.billing,
        'insufficient_credits',
        'The account has no credits left for new runs.',
      ),
      doc,
    };
  }
  ctx.state.creditsRemaining -= 1;
  const faults = ctx.state.faults;
  const run = ctx.runs.create({
    tenant: apiKey.tenant,
    idempotencyKey: call.idempotencyKey,
    templateId: request.templateId,
    subject: request.subject,
    externalId: request.externalId,
    metadata: request.metadata,
    estimatedSeconds: ctx.estimatedSecondsFor(request.templateId),
    createdAtMs: ctx.clock(),
    webhookUrl: request.webhookUrl ?? ctx.webhooks.defaultUrl,
    livemode: apiKey.key.startsWith('sk_live_'),
    fails: draw(ctx, faults.runFailureRate),
    neverFinishes: draw(ctx, faults.neverFinishRate),
  });
  ctx.stats.runCreated(run.runId, call.idempotencyKey);
  ctx.webhooks.track(run);
  const answer: Answer = { status: 202, body: createdRunBody(run), runId: run.runId, doc };
  if (call.scripted === 'resetAfterCreate' || draw(ctx, faults.resetAfterCreateRate)) {
    return { ...answer, delivery: { kind: 'reset' }, fault: FaultKind.resetAfterCreate };
  }
  if (faults.slowAfterCreateMs > 0 && draw(ctx, faults.slowAfterCreateRate)) {
    return {
      ...answer,
      delivery: { kind: 'delayed', delayMs: faults.slowAfterCreateMs },
      fault: FaultKind.slowAfterCreate,
    };
  }
  return answer;
}

async function getRun(
  ctx: SandboxContext,
  call: Call,
  apiKey: ResolvedApiKey,
  runId: string,
): Promise<Answer> {
  const early = injectedFault(ctx, call);
  if (early !== undefined) return early;
  await processingTime(ctx);
  if (!apiKey.scopes.has(Scope.runsRead)) return missingScope(Scope.runsRead);
  const run = ctx.runs.find(runId, apiKey.tenant);
  if (run === undefined) {
    return error(404, KycertErrorType.invalidRequest, 'run_not_found', 'No such run.', 'id');
  }
  return { status: 200, body: runView(run, ctx.clock()), runId };
}

/** The faults that strike before kycert does anything: a 429 storm, then a 5xx. */
function injectedFault(ctx: SandboxContext, call: Call): Answer | undefined {
  const faults = ctx.state.faults;
  if (call.scripted === 'rateLimit' || draw(ctx, faults.rateLimitStormRate)) {
    return {
      ...rateLimited(
        ctx,
        call,
        faults.retryAfterSeconds,
        'rate_limit_exceeded',
        'Too many requests (injected).',
      ),
      fault: FaultKind.rateLimitStorm,
    };
  }
  if (call.scripted === 'serverError' || draw(ctx, faults.serverErrorRate)) {
    const status = faults.serverErrorStatus;
    const code = status === 500 ? 'internal_error' : status === 502 ? 'bad_gateway' : 'service_unavailable';
    return {
      ...error(status, KycertErrorType.api, code, 'Temporary failure (injected); retry later.'),
      fault: FaultKind.serverError,
    };
  }
  return undefined;
}

async function processingTime(ctx: SandboxContext): Promise<void> {
  const delayMs = ctx.state.faults.latencyMs;
  if (delayMs <= 0) return;
  ctx.stats.fault(FaultKind.latency);
  await ctx.sleep(delayMs, ctx.closing);
}

async function deliver(
  ctx: SandboxContext,
  req: IncomingMessage,
  res: ServerResponse,
  call: Call,
  answer: Answer,
  startedAtMs: number,
): Promise<void> {
  if (answer.fault !== undefined && answer.fault !== FaultKind.slowAfterCreate) ctx.stats.fault(answer.fault);
  if (call.post !== undefined) call.post.replayed = answer.replayed === true;
  if (answer.delivery?.kind === 'reset') {
    if (call.post !== undefined) call.post.answer = 'reset';
    req.socket.destroy();
    logAnswer(ctx, call, answer, 'reset', startedAtMs);
    return;
  }
  if (answer.delivery?.kind === 'delayed') {
    ctx.stats.fault(FaultKind.slowAfterCreate);
    await ctx.sleep(answer.delivery.delayMs, ctx.closing);
  }
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'x-request-id': call.requestId,
    'x-ratelimit-limit': String(call.rateLimit.limit),
    'x-ratelimit-remaining': String(call.rateLimit.remaining),
    'x-ratelimit-reset': String(Math.ceil(call.rateLimit.resetAtMs / 1000)),
    ...answer.headers,
  };
  // The client may have given up while the response was held: then nothing is sent and nothing counted.
  if (res.destroyed) {
    if (call.post !== undefined) call.post.answer = 'client_gone';
    logAnswer(ctx, call, answer, 'client_gone', startedAtMs);
    return;
  }
  ctx.stats.status(answer.status);
  if (call.post !== undefined) call.post.answer = answer.status;
  const code = errorCodeOf(answer.body);
  if (code !== undefined) ctx.stats.errorCode(code);
  res.writeHead(answer.status, headers).end(JSON.stringify(answer.body));
  logAnswer(ctx, call, answer, answer.status, startedAtMs);
}

function logAnswer(
  ctx: SandboxContext,
  call: Call,
  answer: Answer,
  status: SandboxLogEntry['status'],
  startedAtMs: number,
): void {
  if (ctx.log === undefined) return;
  const code = errorCodeOf(answer.body);
  const entry: SandboxLogEntry = {
    time: new Date(ctx.clock()).toISOString(),
    requestId: call.requestId,
    method: call.method,
    path: call.path,
    status,
    durationMs: Math.round(performance.now() - startedAtMs),
    ...(call.apiKey === undefined ? {} : { apiKey: maskApiKey(call.apiKey.key) }),
    ...(call.idempotencyKey === undefined ? {} : { idempotencyKey: call.idempotencyKey }),
    ...(answer.runId === undefined ? {} : { runId: answer.runId }),
    ...(code === undefined ? {} : { code }),
    ...(answer.doc === undefined ? {} : { doc: answer.doc }),
    ...(answer.fault === undefined ? {} : { fault: answer.fault }),
    ...(answer.replayed === undefined ? {} : { replayed: answer.replayed }),
  };
  ctx.log(entry);
}

function rateLimited(
  ctx: SandboxContext,
  call: Call,
  delaySeconds: number,
  code: string,
  message: string,
): Answer {
  const retryAfter = formatRetryAfter(delaySeconds, ctx.state.faults.retryAfterFormat, call.nowMs);
  return { ...error(429, KycertErrorType.rateLimit, code, message), headers: { 'retry-after': retryAfter } };
}

function inProgress(): Answer {
  return error(
    409,
    KycertErrorType.idempotency,
    'idempotency_in_progress',
    'A request with this Idempotency-Key is still being processed; retry later.',
    'Idempotency-Key',
  );
}

function missingScope(scope: string): Answer {
  return error(403, KycertErrorType.permission, 'missing_scope', `This API key lacks the ${scope} scope.`);
}

function error(
  status: number,
  type: KycertErrorType,
  code: string,
  message: string,
  param: string | null = null,
): Answer {
  return { status, body: kycertError(type, code, message, param) };
}

/** What kycert keeps under a key: successes and the client's own mistakes, never a passing condition. */
function isKept(status: number, keepAccountErrors: boolean): boolean {
  if (!keepAccountErrors && (status === 402 || status === 403)) return false;
  return status >= 200 && status < 500 && status !== 401 && status !== 409 && status !== 429;
}

/** Asks the fault script about this POST: by key and external id, and how many POSTs the key has seen. */
function scriptFault(ctx: SandboxContext, call: Call): ScriptedFault | undefined {
  if (ctx.faultScript === undefined) return undefined;
  const key = call.idempotencyKey;
  const postNumber = key === undefined ? 1 : (ctx.postsByKey.get(key) ?? 0) + 1;
  if (key !== undefined) ctx.postsByKey.set(key, postNumber);
  let externalId: string | undefined;
  try {
    const body = JSON.parse(call.bodyText) as { external_id?: unknown };
    externalId = typeof body.external_id === 'string' ? body.external_id : undefined;
  } catch {
    externalId = undefined;
  }
  return ctx.faultScript({ idempotencyKey: key, externalId, postNumber });
}

/** `rate < 1` draws; 0 and 1 do not, so turning a fault off does not shift a seeded sequence. */
export function draw(ctx: Pick<SandboxContext, 'random'>, rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  return ctx.random() < rate;
}

function matchRoute(method: string, path: string): Route {
  if (path === `${API_PREFIX}/bureau/runs`) {
    return method === 'POST' ? { kind: 'createRun' } : { kind: 'methodNotAllowed', allow: 'POST' };
  }
  const match = /^\/api\/v1\/bureau\/runs\/([^/]+)$/.exec(path);
  if (match?.[1] !== undefined) {
    return method === 'GET'
      ? { kind: 'getRun', runId: decodeURIComponent(match[1]) }
      : { kind: 'methodNotAllowed', allow: 'GET' };
  }
  return { kind: 'notFound' };
}

function presentedApiKey(headers: IncomingHttpHeaders): string | undefined {
  const direct = singleHeader(headers, 'x-api-key')?.trim();
  if (direct !== undefined && direct.length > 0) return direct;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(singleHeader(headers, 'authorization') ?? '');
  return bearer?.[1];
}

function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function errorCodeOf(body: unknown): string | undefined {
  const code = (body as Partial<KycertErrorBody> | undefined)?.error?.code;
  return typeof code === 'string' ? code : undefined;
}

function runIdOf(body: unknown): { runId?: string } {
  const runId = (body as { run_id?: unknown } | undefined)?.run_id;
  return typeof runId === 'string' ? { runId } : {};
}
