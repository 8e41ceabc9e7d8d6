/** Base class of the operator CLI's errors: each carries the exit code and a message fit for the terminal. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.failure,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A flag or argument the command cannot work with; the CLI prints the command's usage with it. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.usage);
  }
}

export const ExitCode = {
  ok: 0,
  /** The command ran and something failed or was refused: a message invalid, a key unknown, a redrive refused. */
  failure: 1,
  /** Bad flags or arguments. */
  usage: 2,
} as const;
