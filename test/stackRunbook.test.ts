import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AlarmName, RUNBOOK_PATH } from '../lib/kycertQueueMonitoring.js';

/** Every alarm's description links to `docs/operations.md#<name>`: each such anchor must exist, once. */
const headings = (path: string) =>
  readFileSync(new URL(`../${path}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('#'));

describe('the runbook', () => {
  it('alarm descriptions point at docs/operations.md', () => {
    expect(RUNBOOK_PATH).toBe('docs/operations.md');
  });

  it.each(Object.values(AlarmName))('has one entry for %s', (name) => {
    expect(headings('docs/operations.md').filter((line) => line === `### \`${name}\``)).toHaveLength(1);
  });

  it('is in one place: docs/deploy.md has no alarm entries of its own', () => {
    const alarmHeadings = headings('docs/deploy.md').filter((line) =>
      Object.values(AlarmName).some((name) => line.includes(`\`${name}\``)),
    );
    expect(alarmHeadings).toEqual([]);
  });
});
