import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveIdempotencyKey } from '../functions/kycert-worker/runRequestMessage.js';
import { type LocalPipeline, startLocalPipeline } from '../local/pipeline/startLocalPipeline.js';
import { consumerLockfile, type Lockfile } from './support/consumerLockfile.js';

/**
 * The package as a user gets it: `npm pack` (which runs the `prepack` build), the tarball installed into a
 * fresh project outside this repository with `npm ci --offline` (from the npm cache this repository's
 * `npm ci` filled), and then, from that project only:
 * (a) a TypeScript CDK app laid out as `cdk init app --language typescript` makes it (CommonJS, NodeNext,
 *     run by tsx) composes KycertQueue and synthesizes, cdk-nag clean;
 * (b) a plain ESM script sends a message with `kycert-queue/producer` to the local SQS emulator, and the
 *     local pipeline's worker processes it;
 * (c) the installed `kycert-queue` command runs on plain Node against the same pipeline.
 * One pack and one install serve every check.
 */
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
// startLocalPipeline puts the worker's variables into process.env; the consumer's processes get their own.
const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_') && !name.startsWith('KYCERT_')),
);

let workDir: string;
let consumerDir: string;
let tarballFiles: string[];
let tarballBytes: number;
let pipeline: LocalPipeline;
const timingsMs: Record<string, number> = {};

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const startedMs = Date.now();
  try {
    return await work();
  } finally {
    timingsMs[label] = Date.now() - startedMs;
  }
}

/** Runs a command; on failure the error carries its output, so a broken step says why. */
async function sh(
  file: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(file, [...args], {
      cwd: options.cwd,
      env: options.env ?? baseEnv,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const failed = error as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `${file} ${args.join(' ')} failed: ${failed.message}\n${failed.stdout ?? ''}\n${failed.stderr ?? ''}`,
    );
  }
}

async function packAndInstall(): Promise<void> {
  const { stdout } = await timed('npm pack (prepack build)', () =>
    sh('npm', ['pack', '--json', '--pack-destination', workDir], { cwd: repoRoot }),
  );
  const [packed] = JSON.parse(stdout) as { filename: string; size: number; files: { path: string }[] }[];
  if (packed === undefined) throw new Error(`npm pack printed no package: ${stdout}`);
  tarballFiles = packed.files.map((file) => file.path).sort();
  tarballBytes = packed.size;
  const tarball = readFileSync(join(workDir, packed.filename));
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));

  mkdirSync(join(consumerDir, 'bin'), { recursive: true });
  writeFileSync(join(consumerDir, packed.filename), tarball);
  const { packageJson, lockfile } = consumerLockfile({
    repoLockfile: JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as Lockfile,
    name: 'payments-kyc',
    tarball: {
      packageName: manifest.name,
      version: manifest.version,
      file: packed.filename,
      integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
      manifest: {
        dependencies: manifest.dependencies,
        peerDependencies: manifest.peerDependencies,
        peerDependenciesMeta: manifest.peerDependenciesMeta,
        bin: manifest.bin,
        engines: manifest.engines,
      },
    },
    dependencies: ['aws-cdk-lib', 'constructs', 'cdk-nag', '@aws-sdk/client-sqs', '@types/node'],
  });
  // A CommonJS project, as `cdk init app --language typescript` creates one.
  delete packageJson.type;
  writeFileSync(join(consumerDir, 'package.json'), `${JSON.stringify(packageJson, null, 2)}\n`);
  writeFileSync(join(consumerDir, 'package-lock.json'), `${JSON.stringify(lockfile, null, 2)}\n`);
  await timed('npm ci --offline (consumer)', () =>
    sh('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: consumerDir }),
  );
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'kycert-queue-outside-'));
  consumerDir = join(workDir, 'payments-kyc');
  mkdirSync(consumerDir);
  const startedMs = Date.now();
  [pipeline] = await Promise.all([
    startLocalPipeline({ sqsPort: 0, dynamodbPort: 0, sandbox: { port: 0 } }),
    packAndInstall(),
  ]);
  timingsMs['pack + install (with the pipeline starting meanwhile)'] = Date.now() - startedMs;
}, 240_000);

afterAll(async () => {
  await pipeline?.stop();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  console.log(`outside-in timings (ms): ${JSON.stringify(timingsMs)}`);
});

describe('the packed tarball', () => {
  it('holds the built package and nothing of the repository besides', () => {
    const unexpected = tarballFiles.filter(
      (path) =>
        !['package.json', 'README.md', 'schema/run-request-message.v1.schema.json'].includes(path) &&
        !/^dist\/(lib|producer|functions\/kycert-worker)\/[A-Za-z]+\.(js|d\.ts)$/.test(path) &&
        // index.mjs and the chunks it loads (esbuild's splitting: `<name>-<hash>.mjs`), each with its map.
        !/^dist\/(worker|api-key-age-check|kycert-webhook)\/(index|[A-Za-z-]+-[A-Z0-9]{8})\.mjs(\.map)?$/.test(
          path,
        ) &&
        path !== 'dist/tools/cli.js',
    );
    expect(unexpected).toEqual([]);
    expect(tarballFiles).toEqual(
      expect.arrayContaining([
        'dist/lib/index.js',
        'dist/lib/index.d.ts',
        'dist/producer/index.js',
        'dist/producer/index.d.ts',
        'dist/tools/cli.js',
        'dist/worker/index.mjs',
        'dist/api-key-age-check/index.mjs',
        'dist/kycert-webhook/index.mjs',
      ]),
    );
    console.log(`tarball: ${tarballFiles.length} files, ${tarballBytes} bytes`);
  });
});

describe('(a) a TypeScript CDK app in the consumer project', () => {
  const APP = `import { App, Aspects, Stack } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { KycertQueue, type KycertQueueProps } from 'kycert-queue';

const app = new App({ outdir: process.argv[2] });
const compose = (stackName: string, props: KycertQueueProps) => {
  const stack = new Stack(app, stackName);
  const kyc = new KycertQueue(stack, 'Kyc', props);
  Aspects.of(stack).add(new AwsSolutionsChecks());
  return kyc;
};
compose('defaults', {});
compose('payments-kyc', { stageName: 'staging', rateLimitPerMinute: 120, alarmEmail: 'oncall@example.com' });
const assembly = app.synth();
const findings = assembly.stacks.flatMap((stack) =>
  stack.messages
    .filter((message) => message.level !== 'info')
    .map((message) => \`\${stack.stackName} \${message.level} \${String(message.entry.data).split('\\n')[0]}\`),
);
console.log(JSON.stringify({ stacks: assembly.stacks.map((stack) => stack.stackName), findings }));
`;
  let synth: { stacks: string[]; findings: string[] };
  let outdir: string;
  let typeCheck: Promise<unknown>;

  beforeAll(async () => {
    writeFileSync(join(consumerDir, 'bin', 'app.ts'), APP);
    // cdk init's tsconfig.json, as far as it matters here.
    writeFileSync(
      join(consumerDir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          noEmit: true,
          isolatedModules: true,
          types: ['node'],
        },
        include: ['bin'],
      }),
    );
    outdir = join(consumerDir, 'cdk.out');
    // Both at once: tsc is native and the synth mostly waits on aws-cdk-lib's modules loading.
    typeCheck = timed('tsc (consumer)', () =>
      sh(join(repoRoot, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: consumerDir }),
    );
    typeCheck.catch(() => undefined); // awaited by its test
    const { stdout } = await timed('synth (tsx)', () =>
      sh(join(repoRoot, 'node_modules/.bin/tsx'), ['bin/app.ts', outdir], { cwd: consumerDir }),
    );
    synth = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
  }, 120_000);

  it('type-checks against the package’s declarations (tsc, NodeNext, strict)', async () => {
    await typeCheck;
  }, 60_000);

  it('synthesizes KycertQueue with no settings and with settings, cdk-nag reporting nothing', () => {
    expect(synth.stacks).toEqual(['defaults', 'payments-kyc']);
    // No warning, no error: the concurrency-floor warning is gone (the shared rate schedule paces the worker).
    expect(synth.findings).toEqual([]);
  });

  it('deploys the worker bundle shipped in the package, as it is', () => {
    const template = JSON.parse(readFileSync(join(outdir, 'payments-kyc.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    // The worker and the hourly API key age check (webhooks are off by default: no receiver).
    expect(functions.map((f) => [f.Properties.Handler, f.Properties.Runtime])).toEqual([
      ['index.handler', 'nodejs24.x'],
      ['index.handler', 'nodejs24.x'],
    ]);
    const assets = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
    expect(assets).toHaveLength(2);
    for (const asset of assets) {
      const files = readdirSync(join(outdir, asset));
      expect(files).toEqual(expect.arrayContaining(['index.mjs', 'index.mjs.map']));
      expect(files.filter((file) => !/^(index|[A-Za-z-]+-[A-Z0-9]{8})\.mjs(\.map)?$/.test(file))).toEqual([]);
    }
    // The worker's asset is the shipped directory, every chunk and map of it, byte for byte.
    const shippedDir = join(consumerDir, 'node_modules/kycert-queue/dist/worker');
    const shippedFiles = readdirSync(shippedDir).sort();
    const sameAsShipped = (asset: string) => {
      const files = readdirSync(join(outdir, asset)).sort();
      return (
        JSON.stringify(files) === JSON.stringify(shippedFiles) &&
        files.every((file) =>
          readFileSync(join(outdir, asset, file)).equals(readFileSync(join(shippedDir, file))),
        )
      );
    };
    expect(assets.filter(sameAsShipped)).toHaveLength(1);
  });
});

describe('loading the package', () => {
  /** Every `node` on PATH: here the `node` devDependency's 24 first, then the machine's own (20 in CI). */
  const nodes = [
    ...new Set(
      (baseEnv.PATH ?? '')
        .split(delimiter)
        .map((dir) => join(dir, 'node'))
        .filter((file) => {
          try {
            accessSync(file, constants.X_OK);
            return true;
          } catch {
            return false;
          }
        })
        .map((file) => realpathSync(file)),
    ),
  ];

  /** Node.js loads ESM from require() without a flag from 20.19 and 22.12 on (and in every 23+). */
  const hasRequireEsm = (version: string) => {
    const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
    return major >= 23 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
  };

  it('with require() from CommonJS, on each Node.js on PATH that has require(esm)', async () => {
    const script =
      "const { KycertQueue } = require('kycert-queue'); const { RunRequestProducer } = require('kycert-queue/producer');" +
      "const schema = require('kycert-queue/schema.json');" +
      'console.log(process.version, typeof KycertQueue, typeof RunRequestProducer, schema.$id);';
    const versions: string[] = [];
    for (const node of nodes) {
      const installed = (await sh(node, ['--version'], { cwd: consumerDir })).stdout.trim();
      if (!hasRequireEsm(installed)) {
        console.log(`not checked: ${node} is Node.js ${installed}, which has no require(esm)`);
        continue;
      }
      const { stdout } = await sh(node, ['-e', script], { cwd: consumerDir });
      const [version, ...rest] = stdout.trim().split(' ');
      versions.push(version as string);
      expect(rest).toEqual(['function', 'function', 'urn:kycert-queue:run-request-message:v1']);
    }
    expect(versions).toContain(process.version);
    console.log(`require() checked on ${versions.join(', ')}`);
  }, 60_000);

  it('the producer entry loads no module of aws-cdk-lib, constructs or cdk-nag', async () => {
    // module.registerHooks sees every resolution, by import and by require alike.
    const script = `
      import { registerHooks } from 'node:module';
      const loaded = [];
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.push(r.url); return r; } });
      const producer = await import('kycert-queue/producer');
      console.log(JSON.stringify({ exports: Object.keys(producer).sort(), loaded }));`;
    const { stdout } = await sh(process.execPath, ['--input-type=module', '-e', script], {
      cwd: consumerDir,
    });
    const { exports, loaded } = JSON.parse(stdout) as { exports: string[]; loaded: string[] };
    expect(exports).toContain('RunRequestProducer');
    expect(loaded.some((url) => url.includes('/node_modules/kycert-queue/dist/producer/'))).toBe(true);
    expect(loaded.filter((url) => /\/node_modules\/(aws-cdk-lib|constructs|cdk-nag)\//.test(url))).toEqual(
      [],
    );
  });
});

describe('(b) a producer script and the local pipeline', () => {
  const SEND = `import { SQSClient } from '@aws-sdk/client-sqs';
import { RunRequestProducer } from 'kycert-queue/producer';

// The emulator's queue URLs name sqs.<region>.localhost, which this machine does not resolve: requests go
// to AWS_ENDPOINT_URL_SQS instead of the queue URL's host.
const sqs = new SQSClient({ useQueueUrlAsEndpoint: false });
const producer = new RunRequestProducer({ sqs, queueUrl: process.env.QUEUE_URL });
const sent = await producer.send({
  template_id: 'tpl_onboarding_pf',
  subject: { type: 'pf', doc: '000.000.001-91' },
  external_id: 'outside-in-1',
});
console.log(JSON.stringify(sent));
`;
  const clientEnv = () => ({
    ...baseEnv,
    AWS_REGION: pipeline.aws.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: pipeline.aws.sqsEndpoint,
    AWS_ENDPOINT_URL_DYNAMODB: pipeline.aws.dynamodbEndpoint,
  });

  it('sends with kycert-queue/producer; the worker runs it at kycert and records the outcome', async () => {
    writeFileSync(join(consumerDir, 'send-run-request.mjs'), SEND);
    const { stdout } = await sh(process.execPath, ['send-run-request.mjs'], {
      cwd: consumerDir,
      env: { ...clientEnv(), QUEUE_URL: pipeline.aws.queueUrl },
    });
    const sent = JSON.parse(stdout) as { messageId: string; idempotencyKey: string };
    expect(sent.idempotencyKey).toBe(deriveIdempotencyKey('tpl_onboarding_pf', 'outside-in-1'));
    expect(await pipeline.waitUntilSettled({ timeoutMs: 20_000 })).toBe(true);
    const { outcomes, dlq } = await pipeline.report();
    expect(outcomes).toEqual([
      expect.objectContaining({
        idempotency_key: sent.idempotencyKey,
        status: 'succeeded',
        attempts: 1,
        external_id: 'outside-in-1',
        run_id: expect.stringMatching(/.+/),
      }),
    ]);
    expect(dlq).toEqual([]);
    expect(pipeline.sandbox?.stats().runsByIdempotencyKey[sent.idempotencyKey]).toHaveLength(1);
  }, 60_000);

  it('(c) the installed kycert-queue command: --help, then status and dlq list against the pipeline', async () => {
    const help = await sh('npx', ['--offline', 'kycert-queue', '--help'], { cwd: consumerDir });
    expect(help.stdout).toMatch(/^Usage: kycert-queue \[options\] \[command\]/);
    expect(help.stdout).toContain('--profile <name>');

    const key = deriveIdempotencyKey('tpl_onboarding_pf', 'outside-in-1');
    const resources = ['--queue-url', pipeline.aws.queueUrl, '--table', pipeline.aws.tableName];
    const status = await sh('npx', ['--offline', 'kycert-queue', 'status', key, ...resources, '--json'], {
      cwd: consumerDir,
      env: clientEnv(),
    });
    expect(JSON.parse(status.stdout)).toMatchObject({ idempotency_key: key, status: 'succeeded' });

    // No AWS_ENDPOINT_URL_SQS: the CLI sends to the host of the URL it is given, not to AWS, and says so.
    const {
      AWS_ENDPOINT_URL_SQS: _sqs,
      AWS_ENDPOINT_URL_DYNAMODB: _dynamodb,
      ...withoutEndpoints
    } = clientEnv();
    const dlq = await sh(
      'npx',
      ['--offline', 'kycert-queue', 'dlq', 'list', '--dlq-url', pipeline.aws.deadLetterQueueUrl],
      { cwd: consumerDir, env: withoutEndpoints },
    );
    expect(dlq.stdout.trim()).toBe('The DLQ is empty.');
    expect(dlq.stderr).toContain('is not an AWS host: SQS requests go to http://localhost:');
  }, 60_000);
});
