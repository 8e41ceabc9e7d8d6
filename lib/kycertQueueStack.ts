import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { KycertQueue, type KycertQueueProps } from './kycertQueue.js';
import { StackOutputs } from './stackOutputs.js';

export interface KycertQueueStackProps extends StackProps {
  /** Everything about the product; each prop has a secure default (see KycertQueueProps). */
  readonly kycertQueue?: KycertQueueProps;
}

/** A thin stack: the KycertQueue construct and the outputs the operator CLI and producers read. */
export class KycertQueueStack extends Stack {
  public readonly kycertQueue: KycertQueue;

  constructor(scope: Construct, id: string, props: KycertQueueStackProps = {}) {
    super(scope, id, props);
    const product = new KycertQueue(this, 'KycertQueue', props.kycertQueue);
    this.kycertQueue = product;

    const output = (key: keyof typeof StackOutputs, value: string, description: string) =>
      new CfnOutput(this, StackOutputs[key], { value, description });
    output(
      'queueUrl',
      product.queue.queueUrl,
      'Requests queue: producers send one JSON message per kycert run here',
    );
    output('queueArn', product.queue.queueArn, 'Requests queue ARN, for producer IAM policies');
    output(
      'deadLetterQueueUrl',
      product.deadLetterQueue.queueUrl,
      'DLQ: messages the worker gave up on, with a reason',
    );
    output('deadLetterQueueArn', product.deadLetterQueue.queueArn, 'DLQ ARN');
    output('outcomeTableName', product.outcomeTable.tableName, 'Outcome table: one item per idempotency key');
    output(
      'apiKeySecretArn',
      product.apiKeySecret.secretArn,
      'Secret holding the kycert API key: put the key here',
    );
    output('workerFunctionName', product.workerFunction.functionName, 'The worker Lambda function');
    output('alarmTopicArn', product.alarmTopic.topicArn, 'SNS topic every alarm notifies');
    output('dashboardName', product.dashboard.dashboardName, 'CloudWatch dashboard');
    output(
      'producerPolicyArn',
      product.producerPolicy.managedPolicyArn,
      'Managed policy granting SendMessage on the queue',
    );
    output(
      'decisionEventBusArn',
      product.decisionEventBus.eventBusArn,
      'EventBridge bus of the "kycert run decided" events (source kycert-queue)',
    );
    if (product.webhookReceiver !== undefined) {
      output('webhookUrl', product.webhookReceiver.functionUrl.url, 'Give kycert this URL for its webhooks');
      output(
        'webhookSecretArn',
        product.webhookReceiver.secret.secretArn,
        "Secret holding kycert's webhook signing secret (whsec_...): put it here",
      );
    }
  }
}
