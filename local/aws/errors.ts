/** Base class of the local AWS stand-ins' errors; branch on `instanceof`, never on names. */
export class LocalAwsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An emulator could not listen: the port is taken, or not ours to bind. */
export class PortUnavailableError extends LocalAwsError {
  constructor(
    readonly service: string,
    readonly host: string,
    readonly port: number,
    options: ErrorOptions & { code?: string | undefined },
  ) {
    const reason =
      options.code === 'EADDRINUSE'
        ? 'is already in use'
        : `cannot be bound (${options.code ?? 'unknown error'})`;
    super(`cannot start the ${service} emulator: port ${port} on ${host} ${reason}`, options);
  }
}

/**
 * The event source mapping was refused, as `CreateEventSourceMapping` would refuse it: an option out of range,
 * or a queue that does not exist or does not fit the function.
 */
export class EventSourceMappingError extends LocalAwsError {
  constructor(
    readonly queueUrl: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`event source mapping for ${queueUrl}: ${message}`, options);
  }
}

/** Some messages could not be made visible again after a peek; they reappear when their visibility ends. */
export class PeekQueueError extends LocalAwsError {
  constructor(
    readonly queueUrl: string,
    readonly messageIds: readonly string[],
    message: string,
    options?: ErrorOptions,
  ) {
    super(`peek of ${queueUrl}: ${message} (messages ${messageIds.join(', ')})`, options);
  }
}

/** The handler's error, as its execution environment reported it (Lambda's `errorType` and `errorMessage`). */
export class FunctionError extends LocalAwsError {
  constructor(
    readonly errorType: string,
    message: string,
    remoteStack: string | undefined,
  ) {
    super(message);
    if (remoteStack !== undefined) this.stack = remoteStack;
  }
}

/** An execution environment could not start, or its process ended under an invocation. */
export class ExecutionEnvironmentError extends LocalAwsError {
  constructor(
    readonly environmentId: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`execution environment ${environmentId}: ${message}`, options);
  }
}
