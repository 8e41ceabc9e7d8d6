/**
 * How the app names its stack, shared with the operator CLI (which finds resources by stack name).
 * No aws-cdk-lib import here, so the CLI can use it without loading the CDK.
 */

/**
 * The stage used when neither the `stage` context nor the `stageName` prop says otherwise, and the operator
 * CLI's default target: never production by omission. Production is `-c stage=prod`, said out loud.
 */
export const DEFAULT_STAGE = 'dev';

/** Stage names end up in stack, alarm and dashboard names: keep them to what all three accept. */
export const STAGE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,23}$/;

export function stackNameFor(stageName: string = DEFAULT_STAGE): string {
  return `kycert-queue-${stageName}`;
}
