import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeadLetter } from './deadLetters.js';
import { CliError, UsageError } from './errors.js';

/**
 * `dlq redrive --edit`: opens $VISUAL / $EDITOR (else vi) on one DLQ message's body, pretty-printed, in a
 * private temporary file removed afterwards (the body holds a CPF/CNPJ). Returns the corrected body, or
 * undefined when it was left unchanged or emptied (the message then stays in the DLQ).
 */
export function createBodyEditor(
  env: NodeJS.ProcessEnv,
  terminal: { stdinIsTTY: boolean; stderr: (text: string) => void },
): (message: DeadLetter) => Promise<string | undefined> {
  if (!terminal.stdinIsTTY) {
    throw new UsageError('--edit needs a terminal; give the corrected bodies with --bodies FILE instead');
  }
  const editor = env.VISUAL ?? env.EDITOR ?? 'vi';
  return async (message) => {
    const original = pretty(message.body);
    const dir = mkdtempSync(join(tmpdir(), 'kycert-queue-edit-'));
    const file = join(dir, `${message.message_id.replace(/[^\w.-]/g, '_')}.json`);
    try {
      writeFileSync(file, `${original}\n`, { mode: 0o600 });
      terminal.stderr(
        `Editing DLQ message ${message.message_id} (${message.reason ?? 'no reason'}). Save to redrive it under ` +
          'a fresh idempotency key; leave it unchanged or empty to keep it in the DLQ.\n',
      );
      const run = spawnSync(`${editor} "${file}"`, { shell: true, stdio: 'inherit' });
      if (run.error !== undefined || run.status !== 0) {
        throw new CliError(
          `the editor (${editor}) failed${run.error === undefined ? ` with exit code ${run.status}` : `: ${run.error.message}`}`,
        );
      }
      const edited = readFileSync(file, 'utf8').trim();
      if (edited.length === 0 || edited === original.trim() || pretty(edited) === original) return undefined;
      return compact(edited);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function pretty(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

function compact(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body));
  } catch {
    return body;
  }
}
