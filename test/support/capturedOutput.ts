import { vi } from 'vitest';

/**
 * Captures what Powertools Logger and Metrics print (both write through a `Console` bound to
 * process.stdout/stderr), so tests can assert on the real output — and that no CPF/CNPJ is in it.
 * Restored by `vi.restoreAllMocks()`.
 */
export interface CapturedOutput {
  /** Everything printed, as one string. */
  text(): string;
  /** The structured log entries (JSON lines with a `level`), in order. */
  logs(): Array<Record<string, unknown>>;
  /** The EMF documents Metrics published. */
  metrics(): Array<Record<string, unknown>>;
}

export function captureOutput(): CapturedOutput {
  const chunks: string[] = [];
  const write = (chunk: string | Uint8Array): boolean => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(write as typeof process.stdout.write);
  vi.spyOn(process.stderr, 'write').mockImplementation(write as typeof process.stderr.write);
  const documents = () =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    text: () => chunks.join(''),
    logs: () => documents().filter((entry) => 'level' in entry),
    metrics: () => documents().filter((entry) => '_aws' in entry),
  };
}
