/**
 * Child-process entry for P4: synthesizes the real stack into the directory given as the first argument, so the
 * worker's code is the asset `cdk synth` makes of the package's pre-built bundle (dist/worker, built by
 * scripts/buildWorkerBundle.ts), and prints `{"bundle": "<path of the worker's index.mjs>", "nodeOptions":
 * "<the function's NODE_OPTIONS>", "environment": {<its literal variables>}}` as its last line. A process of its
 * own keeps aws-cdk-lib out of the benchmark's heap.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { KycertQueueStack } from '../lib/kycertQueueStack.js';

const outdir = process.argv[2];
if (outdir === undefined) throw new Error('usage: synthWorkerBundle.ts <outdir>');
const app = new App({ outdir });
new KycertQueueStack(app, 'kycert-queue-bench');
app.synth();
const template = JSON.parse(readFileSync(join(outdir, 'kycert-queue-bench.template.json'), 'utf8')) as {
  Resources: Record<
    string,
    {
      Type: string;
      Properties?: { Code?: { S3Key?: unknown }; Environment?: { Variables?: Record<string, unknown> } };
    }
  >;
};
// The stack has two functions (the worker and the API key age check); the worker is the one given a queue.
const workers = Object.values(template.Resources).filter(
  (resource) =>
    resource.Type === 'AWS::Lambda::Function' &&
    resource.Properties?.Environment?.Variables?.QUEUE_URL !== undefined,
);
const worker = workers[0];
if (workers.length !== 1 || worker === undefined)
  throw new Error(`expected one worker function, found ${workers.length}`);
const s3Key = worker.Properties?.Code?.S3Key;
if (typeof s3Key !== 'string' || !s3Key.endsWith('.zip'))
  throw new Error(`the worker's code is not a file asset: ${JSON.stringify(s3Key)}`);
const variables = worker.Properties?.Environment?.Variables ?? {};
// Literal values only: the queue URLs, table name and secret are references until deployed.
const environment = Object.fromEntries(
  Object.entries(variables).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
);
process.stdout.write(
  `${JSON.stringify({
    bundle: join(outdir, `asset.${s3Key.slice(0, -'.zip'.length)}`, 'index.mjs'),
    nodeOptions: environment.NODE_OPTIONS ?? '',
    environment,
  })}\n`,
);
