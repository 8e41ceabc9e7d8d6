/**
 * A setting the stack cannot be built with, a construct prop or a CDK context key: each problem names the
 * setting and the rule, on one line. The app prints them without a stack trace (bin/kycert-queue.ts).
 */
export class InvalidSettingsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid kycert-queue settings: ${problems.join('; ')}`);
    this.name = 'InvalidSettingsError';
  }
}
