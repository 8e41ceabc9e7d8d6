import Table from 'cli-table3';
import { tableStyle } from '../pipeline/tableStyle.js';
import type { ChaosResult } from './runChaos.js';

const INVARIANTS_SHOWN = 20;

/** The figures of a chaos run as tables, then the verdict. */
export function printChaosReport(result: ChaosResult, command: string): void {
  const { counts, mix } = result;
  const style = tableStyle(process.stdout, process.env);
  const figures = new Table({ head: ['', 'count'], style });
  const row = (label: string, value: number | string) => figures.push([label, value]);
  row('messages', counts.messages);
  row('  distinct requests', `${counts.distinctRequests} (${mix.rejected} for an unknown template)`);
  row('  duplicate copies', mix.duplicates);
  row('  invalid (bad-input catalogue)', counts.invalidMessages);
  row('kycert POSTs', counts.kycertPosts);
  row(
    '  answers',
    Object.entries(counts.byStatus)
      .map(([s, n]) => `${s}×${n}`)
      .join(' '),
  );
  row(
    '  faults injected',
    Object.entries(counts.faultsInjected)
      .filter(([, n]) => n > 0)
      .map(([f, n]) => `${f}×${n}`)
      .join(' '),
  );
  row('  replays', counts.replays);
  row('created runs', counts.createdRuns);
  row('duplicate runs (keys with > 1 run)', counts.duplicateRuns);
  row('lost', counts.lost);
  row('stuck', counts.stuck);
  row('succeeded', counts.succeeded);
  row(
    'failed',
    `${counts.failed}${counts.failedWithRun > 0 ? ` (${counts.failedWithRun} with a run kycert did create)` : ''}`,
  );
  row('DLQ messages', counts.dlqMessages);
  row('time', `${(result.durationMs / 1000).toFixed(1)} s (${result.messagesPerSecond} messages/s)`);
  console.log(figures.toString());

  const reasons = new Table({ head: ['DLQ reason', 'messages'], style });
  for (const [reason, n] of Object.entries(counts.dlqByReason).sort(([a], [b]) => a.localeCompare(b))) {
    reasons.push([reason, n]);
  }
  console.log(reasons.toString());

  if (result.violations.length > 0) {
    const byInvariant = new Map<string, number>();
    for (const v of result.violations) byInvariant.set(v.invariant, (byInvariant.get(v.invariant) ?? 0) + 1);
    console.log(`\nInvariants broken (${result.violations.length}):`);
    for (const [invariant, n] of byInvariant) console.log(`  ${invariant}: ${n}`);
    for (const v of result.violations.slice(0, INVARIANTS_SHOWN)) {
      console.log(
        `  - ${v.invariant}${v.idempotencyKey === undefined ? '' : ` [${v.idempotencyKey}]`}: ${v.message}`,
      );
    }
  }
  if (!result.settled) console.log('\nThe queue did not drain before --timeout.');
  console.log(
    `\n${result.passed ? 'PASS' : 'FAIL'}: ${command} — ${counts.lost} lost, ${counts.duplicateRuns} duplicate runs, ` +
      `${result.violations.length} invariant violation(s).`,
  );
}
