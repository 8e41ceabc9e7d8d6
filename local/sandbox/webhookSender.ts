import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { SandboxFaults, SandboxWebhookOptions } from './options.js';
import { SANDBOX_DEFAULTS, SandboxConfigError } from './options.js';
import type { SandboxLogEntry } from './requestLog.js';
import { isTerminalAt, runView, type StoredRun } from './runStore.js';
import { isWebhookUrl } from './validateCreateRunBody.js';

/** kycert's event envelope (its docs, api/webhooks); `data.object` is the run as `GET /bureau/runs/{id}` shows it. */
export interface KycertWebhookEvent {
  id: string;
  object: 'event';
  event: 'run.completed' | 'run.failed';
  /** Unix seconds, when the run became terminal. */
  created: number;
  livemode: boolean;
  data: { object: ReturnType<typeof runView> };
}

export const WebhookFault = {
  staleTimestamp: 'staleTimestamp',
  badSignature: 'badSignature',
  duplicate: 'duplicate',
} as const;
export type WebhookFault = (typeof WebhookFault)[keyof typeof WebhookFault];

/** One POST of a webhook, as the sandbox sent it. */
export interface WebhookDelivery {
  eventId: string;
  runId: string;
  event: KycertWebhookEvent['event'];
  url: string;
  /** 1 for the first delivery of the event; a duplicate (`webhookDuplicateRate`) counts as the next. */
  attempt: number;
  /** By the sandbox's clock. */
  atMs: number;
  /** The receiver's HTTP status, or no answer (refused connection, reset, timeout, the sandbox closing). */
  answer: number | 'no_answer';
  fault?: WebhookFault;
  /** The signature header as sent. */
  signature: string;
  /** The exact bytes POSTed. */
  body: string;
}

/** A stale signature is this old: twice kycert's 5-minute tolerance. */
const STALE_SIGNATURE_SECONDS = 600;
/** How often, in real time, the sender looks for runs that became terminal by the sandbox's clock. */
const SWEEP_INTERVAL_MS = 50;
const WEBHOOK_SECRET = /^whsec_[A-Za-z0-9_]+$/;
const HEADER_NAME = /^[A-Za-z0-9-]+$/;

/**
 * kycert's webhooks, sent by the sandbox: once a run is terminal by the sandbox's clock (kycert: 5–30 s after
 * creation; here the run's `estimated_seconds`, plus `delayMs`), one event is POSTed to the run's webhook URL,
 * signed (functions/kycert-webhook/webhookSignature.ts for the scheme; the HMAC is computed here on its own,
 * so that a mistake on one side shows in the tests instead of cancelling out).
 *
 * Retries, as Stripe does (kycert's docs say nothing): a delivery without a 2xx is retried with the same event
 * id and body, re-signed with a fresh timestamp, after `retryBaseMs`, then doubling (1 s, 2 s, 4 s), up to
 * `maxAttempts` deliveries in all. Delays are real time: a local receiver is on this machine.
 */
export class WebhookSender {
  readonly #clock: () => number;
  readonly #draw: (rate: number) => boolean;
  readonly #faults: () => SandboxFaults;
  readonly #closing: AbortSignal;
  readonly #log: ((entry: SandboxLogEntry) => void) | undefined;
  readonly #settings: Required<Omit<SandboxWebhookOptions, 'url' | 'secrets'>>;
  readonly #defaultUrl: string | null;
  #secrets: readonly string[];
  readonly #pending = new Map<string, StoredRun>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #deliveries: WebhookDelivery[] = [];
  #sweep: NodeJS.Timeout | undefined;

  constructor(options: {
    settings: SandboxWebhookOptions | undefined;
    clock: () => number;
    draw: (rate: number) => boolean;
    faults: () => SandboxFaults;
    closing: AbortSignal;
    log: ((entry: SandboxLogEntry) => void) | undefined;
  }) {
    const settings = options.settings ?? {};
    if (settings.url !== undefined && !isWebhookUrl(settings.url)) {
      throw new SandboxConfigError(
        `webhooks.url must be an https:// URL (http:// only to localhost), got "${settings.url}"`,
      );
    }
    this.#defaultUrl = settings.url ?? null;
    this.#secrets = checkedSecrets(settings.secrets ?? [SANDBOX_DEFAULTS.webhookSecret]);
    const headerName = settings.signatureHeaderName ?? SANDBOX_DEFAULTS.webhookSignatureHeaderName;
    if (!HEADER_NAME.test(headerName)) {
      throw new SandboxConfigError(
        `webhooks.signatureHeaderName must be letters, digits and "-", got "${headerName}"`,
      );
    }
    this.#settings = {
      signatureHeaderName: headerName.toLowerCase(),
      delayMs: nonNegative('webhooks.delayMs', settings.delayMs ?? 0),
      maxAttempts: nonNegative(
        'webhooks.maxAttempts',
        settings.maxAttempts ?? SANDBOX_DEFAULTS.webhookMaxAttempts,
      ),
      retryBaseMs: nonNegative(
        'webhooks.retryBaseMs',
        settings.retryBaseMs ?? SANDBOX_DEFAULTS.webhookRetryBaseMs,
      ),
      timeoutMs: nonNegative('webhooks.timeoutMs', settings.timeoutMs ?? SANDBOX_DEFAULTS.webhookTimeoutMs),
    };
    if (this.#settings.maxAttempts < 1)
      throw new SandboxConfigError('webhooks.maxAttempts must be 1 or more');
    this.#clock = options.clock;
    this.#draw = options.draw;
    this.#faults = options.faults;
    this.#closing = options.closing;
    this.#log = options.log;
  }

  /** The URL a run created without `webhook_url` reports to. */
  get defaultUrl(): string | null {
    return this.#defaultUrl;
  }

  /** The secrets that sign from now on; two during a rotation. */
  setSecrets(secrets: readonly string[]): void {
    this.#secrets = checkedSecrets(secrets);
  }

  /** A new run: its webhook goes out once it is terminal, if it has a URL and ever finishes. */
  track(run: StoredRun): void {
    if (run.webhookUrl === null || !Number.isFinite(run.completesAtMs)) return;
    this.#pending.set(run.runId, run);
    this.#sweep ??= setInterval(() => {
      this.deliverDue().catch((error: unknown) =>
        console.error('kycert sandbox: webhook delivery failed', error),
      );
    }, SWEEP_INTERVAL_MS).unref();
  }

  /**
   * Sends the webhook of every tracked run that is terminal by the clock now; resolves once those deliveries
   * (their retries included) are over. Called on a timer; a test with a clock of its own calls it after
   * moving the clock.
   */
  async deliverDue(): Promise<void> {
    if (this.#closing.aborted) return;
    const nowMs = this.#clock();
    const started: Promise<void>[] = [];
    for (const run of this.#pending.values()) {
      if (!isTerminalAt(run, nowMs)) continue;
      this.#pending.delete(run.runId);
      const delivery = this.#deliver(run, nowMs).finally(() => this.#inFlight.delete(delivery));
      this.#inFlight.add(delivery);
      started.push(delivery);
    }
    if (this.#pending.size === 0 && this.#sweep !== undefined) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
    await Promise.all(started);
  }

  deliveries(): WebhookDelivery[] {
    return this.#deliveries.map((delivery) => ({ ...delivery }));
  }

  /** Stops sending: no new delivery, in-flight ones aborted (the caller aborts `closing` first). */
  async close(): Promise<void> {
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    this.#sweep = undefined;
    await Promise.allSettled([...this.#inFlight]);
  }

  async #deliver(run: StoredRun, terminalAtMs: number): Promise<void> {
    const url = run.webhookUrl as string;
    const view = runView(run, terminalAtMs);
    const event: KycertWebhookEvent = {
      id: run.eventId,
      object: 'event',
      event: view.status === 'failed' ? 'run.failed' : 'run.completed',
      created: Math.floor(run.completesAtMs / 1000),
      livemode: run.livemode,
      data: { object: view },
    };
    const body = JSON.stringify(event);
    try {
      if (this.#settings.delayMs > 0)
        await sleepMs(this.#settings.delayMs, undefined, { signal: this.#closing });
      for (let attempt = 1; attempt <= this.#settings.maxAttempts; attempt++) {
        if (attempt > 1) {
          const backoffMs = this.#settings.retryBaseMs * 2 ** (attempt - 2);
          await sleepMs(backoffMs, undefined, { signal: this.#closing });
        }
        const answer = await this.#post(url, event, body, attempt, this.#chooseFault());
        if (typeof answer === 'number' && answer >= 200 && answer < 300) {
          if (this.#draw(this.#faults().webhookDuplicateRate)) {
            await this.#post(url, event, body, attempt + 1, WebhookFault.duplicate);
          }
          return;
        }
      }
    } catch (error) {
      // The sandbox is closing: deliveries end there.
      if (!this.#closing.aborted) throw error;
    }
  }

  #chooseFault(): WebhookFault | undefined {
    const faults = this.#faults();
    if (this.#draw(faults.webhookStaleRate)) return WebhookFault.staleTimestamp;
    if (this.#draw(faults.webhookBadSignatureRate)) return WebhookFault.badSignature;
    return undefined;
  }

  async #post(
    url: string,
    event: KycertWebhookEvent,
    body: string,
    attempt: number,
    fault: WebhookFault | undefined,
  ): Promise<WebhookDelivery['answer']> {
    const atMs = this.#clock();
    const startedAtMs = performance.now();
    const nowSeconds = Math.floor(atMs / 1000);
    const timestampSeconds =
      fault === WebhookFault.staleTimestamp ? nowSeconds - STALE_SIGNATURE_SECONDS : nowSeconds;
    const secrets =
      fault === WebhookFault.badSignature
        ? [`whsec_forged_${randomUUID().replaceAll('-', '')}`]
        : this.#secrets;
    const signature = [
      `t=${timestampSeconds}`,
      ...secrets.map(
        (secret) => `v1=${createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex')}`,
      ),
    ].join(',');
    let answer: WebhookDelivery['answer'];
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'kycert-sandbox-webhooks/1',
          [this.#settings.signatureHeaderName]: signature,
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([this.#closing, AbortSignal.timeout(this.#settings.timeoutMs)]),
      });
      await response.arrayBuffer().catch(() => undefined);
      answer = response.status;
    } catch {
      answer = 'no_answer';
    }
    const delivery: WebhookDelivery = {
      eventId: event.id,
      runId: event.data.object.run_id,
      event: event.event,
      url,
      attempt,
      atMs,
      answer,
      ...(fault === undefined ? {} : { fault }),
      signature,
      body,
    };
    this.#deliveries.push(delivery);
    this.#log?.({
      time: new Date(atMs).toISOString(),
      requestId: event.id,
      method: 'POST',
      path: URL.parse(url)?.pathname ?? url,
      status: answer === 'no_answer' ? 0 : answer,
      durationMs: Math.round(performance.now() - startedAtMs),
      runId: delivery.runId,
      webhook: { event: event.event, attempt, ...(fault === undefined ? {} : { fault }) },
    });
    if (this.#closing.aborted) throw new Error('sandbox closing');
    return answer;
  }
}

function checkedSecrets(secrets: readonly string[]): readonly string[] {
  if (secrets.length === 0) throw new SandboxConfigError('webhooks.secrets must name at least one secret');
  const bad = secrets.find((secret) => !WEBHOOK_SECRET.test(secret));
  if (bad !== undefined) {
    throw new SandboxConfigError('webhook secrets must look like whsec_… (letters, digits, _)');
  }
  return [...secrets];
}

function nonNegative(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new SandboxConfigError(`${name} must be a whole number, 0 or more, got ${value}`);
  }
  return value;
}
