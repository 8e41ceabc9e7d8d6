const DAY_MS = 86_400_000;

/** What DescribeSecret says about when a secret's value last changed. */
export interface SecretDates {
  /** When the secret was created. */
  readonly createdDate?: Date | undefined;
  /** When its value or settings last changed; absent on a secret never changed since its creation. */
  readonly lastChangedDate?: Date | undefined;
}

/**
 * Whole days since the secret last changed, counted from its creation when it never changed: a placeholder
 * nobody replaced ages like a key nobody rotated. Undefined when DescribeSecret gave neither date.
 */
export function daysSinceLastChange(secret: SecretDates, nowMs: number): number | undefined {
  const changedAtMs = (secret.lastChangedDate ?? secret.createdDate)?.getTime();
  if (changedAtMs === undefined || Number.isNaN(changedAtMs)) return undefined;
  return Math.max(0, Math.floor((nowMs - changedAtMs) / DAY_MS));
}
