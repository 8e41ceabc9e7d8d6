import { type CliIo, runCli } from '../../tools/cli.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json<T = Record<string, unknown>>(): T;
}

/**
 * `kycert-queue <args>` in this process, its stdout and stderr captured; no stdin, no terminal, no environment
 * unless `io` says otherwise (a target, a clock, a terminal's width or answers).
 */
export async function runCliCaptured(
  args: string[],
  io: Partial<CliIo> & Pick<CliIo, 'nowMs'>,
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    readStdin: async () => '',
    env: {},
    stdinIsTTY: false,
    ...io,
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
}
