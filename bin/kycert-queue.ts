#!/usr/bin/env node
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { appSettingsFromContext } from '../lib/appSettingsFromContext.js';
import { InvalidSettingsError } from '../lib/errors.js';
import { KycertQueueStack } from '../lib/kycertQueueStack.js';

// The CDK app: `npx cdk synth` / `npx cdk deploy` (cdk.json builds the worker bundle, then runs this file with
// tsx). Settings come from CDK context (docs/deploy.md, "Settings"); no lookups, so synth needs neither
// credentials nor network.
const app = new App();
try {
  const settings = appSettingsFromContext(app.node.getAllContext());
  const stack = new KycertQueueStack(app, settings.stackName, {
    stackName: settings.stackName,
    env: settings.env,
    description: 'kycert-queue: SQS requests queue, worker Lambda calling kycert, outcome table, DLQ, alarms',
    kycertQueue: settings.props,
  });
  // cdk-nag on every synth: an unsuppressed AwsSolutions error fails `cdk synth` and `cdk deploy`.
  Aspects.of(stack).add(new AwsSolutionsChecks());
} catch (error) {
  if (!(error instanceof InvalidSettingsError)) throw error;
  // A setting is the user's to fix: one line per problem, no stack trace.
  for (const problem of error.problems) console.error(`kycert-queue: ${problem}`);
  process.exit(1);
}
