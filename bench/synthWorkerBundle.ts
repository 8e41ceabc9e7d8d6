/**
 * Child-process entry for P4: synthesizes the real stack into the directory given as the first argument, so the
 * worker's code is the asset `cdk synth` makes of the package's pre-built bundle (dist/worker, built by
 * scripts/buildWorkerBundle.ts), and prints `{"bundle": "<path of index.mjs>", "nodeOptions": "<the function's
 * NODE_OPTIONS>"}` as its last line. A process of its own keeps aws-cdk-lib out of the benchmark's heap.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { KycertQueueStack } from '../lib/kycertQueueStack.js';

const outdir = process.argv[2];
if (outdir === undefined) throw new Error('usage: synthWorkerBundle.ts <outdir>');
const app = new App({ outdir });
new KycertQueueStack(app, 'kycert-queue-bench');
app.synth();
const assets = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
const bundles = assets.map((asset) => join(outdir, asset, 'index.mjs'));
if (bundles.length !== 1) throw new Error(`expected one Lambda asset, found ${bundles.length}`);
const template = JSON.parse(readFileSync(join(outdir, 'kycert-queue-bench.template.json'), 'utf8')) as {
  Resources: Record<
    string,
    { Type: string; Properties?: { Environment?: { Variables?: Record<string, unknown> } } }
  >;
};
const functions = Object.values(template.Resources).filter(
  (resource) => resource.Type === 'AWS::Lambda::Function',
);
if (functions.length !== 1) throw new Error(`expected one Lambda function, found ${functions.length}`);
const nodeOptions = functions[0]?.Properties?.Environment?.Variables?.NODE_OPTIONS;
process.stdout.write(
  `${JSON.stringify({ bundle: bundles[0], nodeOptions: typeof nodeOptions === 'string' ? nodeOptions : '' })}\n`,
);
