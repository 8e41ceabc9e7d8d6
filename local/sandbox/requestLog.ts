/**
 * One line of the sandbox's request log: a request it answered, or a webhook it sent (`webhook` set, `path` the
 * receiver's, `status` the receiver's answer). Documents and API keys appear only masked.
 */
export interface SandboxLogEntry {
  time: string;
  requestId: string;
  method: string;
  path: string;
  /**
   * The HTTP status sent; `'reset'` when the socket was destroyed unanswered on purpose; `'client_gone'` when
   * the client hung up before a held response could be sent. For a webhook, the receiver's status, or 0 when it
   * did not answer (as a browser's fetch reports a network error).
   */
  status: number | 'reset' | 'client_gone';
  /** Wall-clock time spent on the request, injected latency included. */
  durationMs: number;
  apiKey?: string;
  idempotencyKey?: string;
  runId?: string;
  /** kycert's `error.code` when the answer is an error. */
  code?: string;
  doc?: string;
  fault?: string;
  replayed?: true;
  webhook?: { event: string; attempt: number; fault?: string };
}

/** `sk_test_abcdef1234` → `sk_test_…1234`: which key was used, not the key. */
export function maskApiKey(key: string): string {
  const prefix = /^sk_(test|live)_/.exec(key)?.[0] ?? '';
  return `${prefix}…${key.slice(-4)}`;
}

export function writeLogLine(entry: SandboxLogEntry): void {
  process.stdout.write(`${JSON.stringify(entry)}\n`);
}
