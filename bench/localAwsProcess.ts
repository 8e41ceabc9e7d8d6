/**
 * Child-process entry: starts the SQS and DynamoDB emulators (`startLocalAws`) and tells the parent where they
 * are. See `startLocalAwsProcess.ts`, which forks it: in Lambda, AWS does its work outside the function, so
 * the emulators' own CPU must not be counted as the worker's time.
 */
import { type LocalAwsOptions, startLocalAws } from '../local/aws/startLocalAws.js';

const options = JSON.parse(process.argv[2] ?? '{}') as LocalAwsOptions;
const aws = await startLocalAws(options);
let stopping: Promise<void> | undefined;
const stop = () => {
  stopping ??= aws
    .stop()
    .catch(() => undefined)
    .finally(() => process.exit(0));
  return stopping;
};
process.on('message', (message: { type?: string }) => {
  if (message.type === 'stop') void stop();
});
process.on('disconnect', () => void stop());
process.send?.({
  type: 'ready',
  aws: {
    sqsEndpoint: aws.sqsEndpoint,
    dynamodbEndpoint: aws.dynamodbEndpoint,
    region: aws.region,
    queueUrl: aws.queueUrl,
    deadLetterQueueUrl: aws.deadLetterQueueUrl,
    tableName: aws.tableName,
    env: aws.env,
  },
});
