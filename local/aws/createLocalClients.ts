import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';

export interface LocalEndpoints {
  readonly sqsEndpoint: string;
  readonly dynamodbEndpoint: string;
  readonly region: string;
}

export interface LocalClients {
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  /** Closes both clients' connection pools. */
  destroy(): void;
}

/** The emulators accept any credentials; fixed dummies keep the SDK from searching the machine for real ones. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** Real SDK v3 clients pointed at the emulators. */
export function createLocalClients(endpoints: LocalEndpoints): LocalClients {
  const sqs = new SQSClient({
    endpoint: endpoints.sqsEndpoint,
    region: endpoints.region,
    credentials: LOCAL_CREDENTIALS,
    // Otherwise calls that take a QueueUrl go to the URL's host, whatever the endpoint says.
    useQueueUrlAsEndpoint: false,
  });
  const dynamodb = new DynamoDBClient({
    endpoint: endpoints.dynamodbEndpoint,
    region: endpoints.region,
    credentials: LOCAL_CREDENTIALS,
  });
  return {
    sqs,
    dynamodb,
    destroy() {
      sqs.destroy();
      dynamodb.destroy();
    },
  };
}
