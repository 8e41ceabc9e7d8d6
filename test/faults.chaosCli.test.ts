import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** `npm run chaos`'s contract: its exit codes and its JSON, from the real process. */

function chaos(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'local/chaos.ts', ...args], (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr });
    });
  });
}

describe('npm run chaos', () => {
  // Faults off: the faults themselves are the fault suite's (test/faults.test.ts runs the chaos mix).
  it.concurrent('runs a small mix, prints its figures as JSON and exits 0 when every invariant held', {
    timeout: 60_000,
  }, async () => {
    const run = await chaos(
      '--messages',
      '60',
      '--seed',
      '3',
      '--fault-rate',
      '0',
      '--environments',
      '2',
      '--json',
    );
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({
      passed: true,
      settled: true,
      violationCount: 0,
      counts: { messages: 60, lost: 0, stuck: 0, duplicateRuns: 0 },
      settings: { concurrency: 8, environments: 2 },
    });
    const counts = result.counts as { succeeded: number; failed: number; distinctRequests: number };
    expect(counts.succeeded + counts.failed).toBe(counts.distinctRequests);
  });

  it.concurrent.each([
    [['--messages', '0'], '--messages must be a whole number from 1'],
    [['--fault-rate', '0.9'], '--fault-rate must be a number from 0 to 0.5'],
    [['--batch-size', '11'], '--batch-size must be a whole number from 1 to 10'],
    [['--environments', '0'], '--environments must be a whole number from 1 to 64'],
    [['--no-such-flag'], "unknown option '--no-such-flag'"],
  ])('refuses %j with exit code 2', { timeout: 30_000 }, async (args, message) => {
    const run = await chaos(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});
