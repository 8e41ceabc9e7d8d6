/**
 * P4's probe: one cold start of a worker bundle in a fresh Node process, as Lambda's runtime does it — the
 * module imported (init), then the handler invoked with one SQS record (the first invocation: the worker's
 * dependencies built, the first DynamoDB calls, the first POST to kycert with undici's parser compiled), then
 * warm invocations of one record each. Plain JavaScript, so that nothing but Node loads before the bundle.
 *
 * `node p4ColdStartProbe.mjs <bundle path> <JSON {records, functionName, memorySizeMb, timeoutSeconds}>`, with
 * the function's environment. Prints `P4PROBE {…}` as its last line of stdout (the worker logs to stdout too).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import { pathToFileURL } from 'node:url';

const [bundlePath, input] = process.argv.slice(2);
if (bundlePath === undefined || input === undefined) {
  throw new Error('usage: p4ColdStartProbe.mjs <bundle> <json>');
}
const { records, functionName, memorySizeMb, timeoutSeconds } = JSON.parse(input);

// The POSTs' time to response headers, from undici's diagnostics channels (a bundled undici publishes on the
// process-wide channels too): the first one includes connecting and compiling the HTTP parser.
const postStartedAtMs = new WeakMap();
const postMs = [];
subscribe('undici:request:create', ({ request }) => {
  if (request.method === 'POST') postStartedAtMs.set(request, performance.now());
});
subscribe('undici:request:headers', ({ request }) => {
  const startedAtMs = postStartedAtMs.get(request);
  if (startedAtMs !== undefined) postMs.push(performance.now() - startedAtMs);
});

/** Lambda's `_X_AMZN_TRACE_ID` for one invocation, sampled, as the runtime sets it before each. */
function traceHeader() {
  const rootId = `1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
  return { rootId, header: `Root=${rootId};Parent=${randomBytes(8).toString('hex')};Sampled=1` };
}

function lambdaContext() {
  const deadlineMs = Date.now() + timeoutSeconds * 1000;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:000000000000:function:${functionName}`,
    memoryLimitInMB: String(memorySizeMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `2026/01/01/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
  };
}

const importCpu = process.cpuUsage();
const importStartedAtMs = performance.now();
const { handler } = await import(pathToFileURL(bundlePath).href);
const initMs = performance.now() - importStartedAtMs;
const initCpu = process.cpuUsage(importCpu);
const initCpuMs = (initCpu.user + initCpu.system) / 1000;

const invocations = [];
for (const record of records) {
  const trace = traceHeader();
  process.env._X_AMZN_TRACE_ID = trace.header;
  const cpuBefore = process.cpuUsage();
  const startedAtMs = performance.now();
  const response = await handler({ Records: [record] }, lambdaContext());
  const ms = performance.now() - startedAtMs;
  const cpu = process.cpuUsage(cpuBefore);
  invocations.push({
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    failedRecords: response?.batchItemFailures?.length ?? -1,
    traceId: trace.rootId,
  });
}

process.stdout.write(`\nP4PROBE ${JSON.stringify({ initMs, initCpuMs, invocations, postMs })}\n`);
// Time for the X-Ray datagrams still queued to leave; then exit, as the keep-alive pools would hold the
// process (Lambda freezes it instead).
setTimeout(() => process.exit(0), 50);
