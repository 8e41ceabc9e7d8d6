import Table from 'cli-table3';
import type { SandboxStats } from '../sandbox/index.js';
import type { DemoMessage } from './demoMessages.js';
import { rateLimitUse } from './rateLimitUse.js';
import type { PipelineReport } from './startLocalPipeline.js';
import { tableStyle } from './tableStyle.js';

const shorten = (text: string | null, max: number) =>
  text === null ? '' : text.length <= max ? text : `${text.slice(0, max - 1)}…`;

/** The end-of-run summary: outcomes, the DLQ, and kycert's side of the story. */
export function printSummary(
  report: PipelineReport,
  sandbox: SandboxStats | undefined,
  demo?: readonly DemoMessage[],
  rateLimit?: { limit: number; windowMs: number },
  webhookDeliveries: readonly { answer: number | 'no_answer' }[] = [],
): void {
  const style = tableStyle(process.stdout, process.env);
  const outcomes = new Table({
    head: [
      'external_id',
      'idempotency key',
      'status',
      'attempts',
      'HTTP',
      'run_id / reason',
      'run',
      'decision',
    ],
    style,
  });
  for (const o of report.outcomes) {
    outcomes.push([
      o.external_id ?? '',
      shorten(o.idempotency_key, 20),
      o.status,
      o.attempts ?? '',
      o.http_status ?? '',
      o.run_id === null
        ? (o.dead_letter_reason ?? o.error_code ?? '')
        : `${o.run_id}${o.replayed ? ' (replayed)' : ''}`,
      o.run_status ?? '',
      o.decision === null ? '' : `${o.decision}${o.risk_band === null ? '' : ` (${o.risk_band})`}`,
    ]);
  }
  console.log(`\nOutcomes (${report.outcomes.length}, DynamoDB):`);
  console.log(outcomes.toString());

  const dlq = new Table({ head: ['reason', 'idempotency key', 'body (verbatim)'], style });
  for (const d of report.dlq) dlq.push([d.reason, shorten(d.idempotency_key, 20), shorten(d.body, 60)]);
  console.log(`\nDead-letter queue (${report.dlq.length}):`);
  console.log(dlq.toString());

  if (report.decisionEvents.length > 0) {
    const byStatus = new Map<string, number>();
    for (const event of report.decisionEvents) {
      const status = String((event.detail as { run_status?: unknown }).run_status ?? 'unknown');
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    }
    console.log(
      `\nDecision events published (EventBridge, "${report.decisionEvents[0]?.detail_type}"): ` +
        `${report.decisionEvents.length}, ${[...byStatus].map(([status, n]) => `${status}×${n}`).join(' ')}.`,
    );
  }
  if (sandbox !== undefined) {
    const duplicates = Object.values(sandbox.runsByIdempotencyKey).filter((runs) => runs.length > 1).length;
    const statuses = Object.entries(sandbox.byStatus)
      .map(([status, count]) => `${status}×${count}`)
      .join(' ');
    console.log(
      `\nkycert sandbox: ${sandbox.postRuns} POSTs, ${sandbox.getRuns} status checks (answers: ${statuses}), ${sandbox.runsCreated} runs created, ` +
        `${sandbox.replays} replays, ${duplicates} keys with more than one run.`,
    );
    if (webhookDeliveries.length > 0) {
      const answers = new Map<string, number>();
      for (const { answer } of webhookDeliveries)
        answers.set(String(answer), (answers.get(String(answer)) ?? 0) + 1);
      console.log(
        `kycert webhooks: ${webhookDeliveries.length} deliveries to the receiver (answers: ${[...answers].map(([a, n]) => `${a}×${n}`).join(' ')}).`,
      );
    }
    const use =
      rateLimit === undefined
        ? undefined
        : rateLimitUse(Object.values(sandbox.postsByIdempotencyKey).flat(), rateLimit);
    if (rateLimit !== undefined && use !== undefined) {
      const percent = (share: number) => `${(100 * share).toFixed(1)} %`;
      console.log(
        `kycert rate limit (${rateLimit.limit} per ${rateLimit.windowMs / 1000} s): ${percent(use.used)} used over the ` +
          `${use.fullWindows} full window(s) of the run; ${percent(use.rateLimitedShare)} of POSTs answered 429.`,
      );
    }
  }
  if (demo !== undefined) {
    console.log('\nWhat the demo set shows:');
    for (const [i, m] of demo.entries())
      console.log(`  ${String(i + 1).padStart(2)}. ${labelOf(m.body).padEnd(24)} ${m.shows}`);
  }
}

function labelOf(body: string): string {
  try {
    const { external_id: externalId } = JSON.parse(body) as { external_id?: unknown };
    return typeof externalId === 'string' ? externalId : '(no external_id)';
  } catch {
    return '(not JSON)';
  }
}
