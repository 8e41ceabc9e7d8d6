/** One emulator listening on loopback. */
export interface RunningEmulator {
  /** Base URL for SDK clients, e.g. `http://127.0.0.1:45678`. */
  readonly endpoint: string;
  readonly port: number;
  /** Closes the server and every open connection; safe to call twice. */
  stop(): Promise<void>;
}
