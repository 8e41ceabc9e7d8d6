import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * Sends what the worker prints (Powertools log lines and EMF metrics, one JSON line per decision and per
 * invocation) to /dev/null while a benchmark runs: the line is still formatted and still costs a write
 * system call, as in Lambda where stdout is a pipe to the runtime, but the terminal stays readable.
 * The benchmark's own output goes through `print`, which bypasses the sink.
 */
export interface StdoutSink {
  /** Bytes the worker wrote while sunk. */
  readonly bytes: () => number;
  /** Writes to the real stdout. */
  print(text: string): void;
  restore(): void;
}

export function sinkStdout(): StdoutSink {
  const original = process.stdout.write.bind(process.stdout);
  const devNull = openSync('/dev/null', 'w');
  let bytes = 0;
  const sunk = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += data.length;
    writeSync(devNull, data);
    const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  };
  process.stdout.write = sunk as typeof process.stdout.write;
  let restored = false;
  return {
    bytes: () => bytes,
    print: (text) => {
      original(text);
    },
    restore() {
      if (restored) return;
      restored = true;
      process.stdout.write = original as typeof process.stdout.write;
      closeSync(devNull);
    },
  };
}
