import { Agent, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type KycertSandbox, type SandboxLogEntry, startKycertSandbox } from '../local/sandbox/index.js';

// Creating and reading runs: the request contract, validation, templates, the run's life by the clock.

const T0_MS = Date.UTC(2026, 0, 5, 12, 0, 0);
let nowMs = T0_MS;
let sandbox: KycertSandbox;
const logEntries: SandboxLogEntry[] = [];
const agent = new Agent();

beforeAll(async () => {
  sandbox = await startKycertSandbox({
    apiKeys: ['sk_test_local', 'sk_live_production1', { key: 'sk_test_secretkey9876', tenant: 'acct_other' }],
    templates: ['kyc-basic'],
    clock: () => nowMs,
    log: (entry) => logEntries.push(entry),
  });
});
beforeEach(() => {
  nowMs = T0_MS;
});
afterAll(async () => {
  await agent.close();
  await sandbox.close();
});

interface Call {
  key?: string | undefined;
  body?: unknown;
  idempotencyKey?: string;
}

async function send(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, call: Call = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const key = 'key' in call ? call.key : 'sk_test_local';
  if (key !== undefined) headers['x-api-key'] = key;
  if (call.idempotencyKey !== undefined) headers['idempotency-key'] = call.idempotencyKey;
  const body =
    call.body === undefined
      ? undefined
      : typeof call.body === 'string'
        ? call.body
        : JSON.stringify(call.body);
  const response = await request(`${sandbox.baseUrl}${path}`, { method, headers, body, dispatcher: agent });
  const json = (await response.body.json()) as Record<string, unknown> & { error?: Record<string, unknown> };
  return { status: response.statusCode, headers: response.headers, json };
}

const createRun = (body: unknown, call: Omit<Call, 'body'> = {}) =>
  send('POST', '/bureau/runs', { ...call, body });

const runBody = (doc: string, extra: Record<string, unknown> = {}) => ({
  template_id: 'tpl_onboarding_pf',
  subject: { type: 'pf', doc },
  ...extra,
});

describe('POST /bureau/runs', () => {
  it('creates a queued run and answers 202 with its id', async () => {
    // Prepare
    const before = sandbox.stats();

    // Act
    const { status, json } = await createRun(
      runBody('529.982.247-25', { external_id: 'order-1', metadata: { a: 'b' } }),
    );

    // Assess
    expect(status).toBe(202);
    expect(json).toEqual({
      run_id: expect.stringMatching(/^run_[0-9a-f]{24}$/),
      status: 'queued',
      template_id: 'tpl_onboarding_pf',
      external_id: 'order-1',
      estimated_seconds: 5,
      created_at: new Date(T0_MS).toISOString(),
    });
    expect(sandbox.stats().runsCreated).toBe(before.runsCreated + 1);
    expect(sandbox.runs().find((run) => run.runId === json.run_id)).toMatchObject({
      subject: { type: 'pf', doc: '52998224725' },
      metadata: { a: 'b' },
      idempotencyKey: undefined,
    });
  });

  it('creates a new run for every POST without an Idempotency-Key', async () => {
    const first = await createRun(runBody('52998224725'));
    const second = await createRun(runBody('52998224725'));

    expect([first.status, second.status]).toEqual([202, 202]);
    expect(first.json.run_id).not.toBe(second.json.run_id);
  });

  it.each([
    ['pf, formatted', { type: 'pf', doc: '529.982.247-25' }],
    ['pj, numeric', { type: 'pj', doc: '11.222.333/0001-81' }],
    ['pj, alphanumeric (2026)', { type: 'pj', doc: '12.ABC.345/01DE-35' }],
    ['pj, alphanumeric in lower case', { type: 'pj', doc: '12abc34501de35' }],
    [
      'a documented fixture that fails the arithmetic, with a test key',
      { type: 'pf', doc: '000.000.002-81' },
    ],
  ])('accepts %s', async (_name, subject) => {
    const { status } = await createRun({ template_id: 'tpl_x', subject });

    expect(status).toBe(202);
  });

  it.each([
    ['https', 'https://localhost:1/kycert?tenant=1'],
    ['http to 127.0.0.1', 'http://127.0.0.1:1/'],
    ['http to localhost', 'http://localhost:1/hook'],
  ])('accepts a webhook_url over %s', async (_name, webhookUrl) => {
    const { status, json } = await createRun(runBody('52998224725', { webhook_url: webhookUrl }));

    expect(status).toBe(202);
    expect(sandbox.runs().find((run) => run.runId === json.run_id)?.webhookUrl).toBe(webhookUrl);
  });

  it.each([
    ['text that is not JSON', '{"template_id": ', 'invalid_json', null],
    ['an array', '[1, 2]', 'invalid_json', null],
    ['no template_id', { subject: { type: 'pf', doc: '52998224725' } }, 'missing_template_id', 'template_id'],
    [
      'an empty template_id',
      runBody('52998224725', { template_id: '' }),
      'missing_template_id',
      'template_id',
    ],
    ['no subject', { template_id: 'tpl_x' }, 'missing_subject', 'subject'],
    ['a subject that is a string', { template_id: 'tpl_x', subject: 'pf' }, 'missing_subject', 'subject'],
    [
      'subject.type "cpf"',
      { template_id: 'tpl_x', subject: { type: 'cpf', doc: '52998224725' } },
      'invalid_subject_type',
      'subject.type',
    ],
    ['a CPF with a wrong check digit', runBody('529.982.247-24'), 'invalid_document', 'subject.doc'],
    ['a CPF that is too short', runBody('5299822472'), 'invalid_document', 'subject.doc'],
    ['a CPF of repeated digits', runBody('111.111.111-11'), 'invalid_document', 'subject.doc'],
    [
      'a numeric doc',
      { template_id: 'tpl_x', subject: { type: 'pf', doc: 52998224725 } },
      'invalid_document',
      'subject.doc',
    ],
    [
      'a CNPJ with a wrong check digit',
      { template_id: 'tpl_x', subject: { type: 'pj', doc: '11222333000180' } },
      'invalid_document',
      'subject.doc',
    ],
    [
      'an alphanumeric CNPJ with a wrong check digit',
      { template_id: 'tpl_x', subject: { type: 'pj', doc: '12ABC34501DE36' } },
      'invalid_document',
      'subject.doc',
    ],
    [
      'a CPF sent as pj',
      { template_id: 'tpl_x', subject: { type: 'pj', doc: '52998224725' } },
      'invalid_document',
      'subject.doc',
    ],
    [
      '11 metadata keys',
      runBody('52998224725', { metadata: Object.fromEntries([...'abcdefghijk'].map((k) => [k, 'v'])) }),
      'invalid_metadata',
      'metadata',
    ],
    [
      'a metadata value of 501 characters',
      runBody('52998224725', { metadata: { note: 'x'.repeat(501) } }),
      'invalid_metadata',
      'metadata.note',
    ],
    [
      'a metadata value that is a number',
      runBody('52998224725', { metadata: { n: 1 } }),
      'invalid_metadata',
      'metadata.n',
    ],
    [
      'metadata that is an array',
      runBody('52998224725', { metadata: ['a'] }),
      'invalid_metadata',
      'metadata',
    ],
    [
      'an external_id that is a number',
      runBody('52998224725', { external_id: 7 }),
      'invalid_external_id',
      'external_id',
    ],
    [
      'a webhook_url that is not a URL',
      runBody('52998224725', { webhook_url: 'hooks.example.com/kycert' }),
      'invalid_webhook_url',
      'webhook_url',
    ],
    [
      'a webhook_url over plain http to another host',
      runBody('52998224725', { webhook_url: 'http://hooks.example.com/kycert' }),
      'invalid_webhook_url',
      'webhook_url',
    ],
    [
      'a webhook_url with credentials in it',
      runBody('52998224725', { webhook_url: 'https://user:pass@hooks.example.com/kycert' }),
      'invalid_webhook_url',
      'webhook_url',
    ],
    [
      'a webhook_url that is a number',
      runBody('52998224725', { webhook_url: 443 }),
      'invalid_webhook_url',
      'webhook_url',
    ],
  ])('refuses %s with 400 %s', async (_name, body, code, param) => {
    const { status, json } = await createRun(body);

    expect(status).toBe(400);
    expect(json.error).toEqual({ type: 'invalid_request_error', code, message: expect.any(String), param });
  });

  it('accepts 10 metadata keys and values of 500 characters, the documented maxima', async () => {
    const metadata = Object.fromEntries([...'abcdefghij'].map((k) => [k, 'x'.repeat(500)]));

    const { status } = await createRun(runBody('52998224725', { metadata }));

    expect(status).toBe(202);
  });

  it('never echoes the document in an error message', async () => {
    const { json } = await createRun(runBody('529.982.247-24'));

    expect(json.error?.message).toBe('subject.doc is not a valid CPF: invalid check digits.');
  });

  it('refuses the documented fixtures that fail the arithmetic when the key is live', async () => {
    const { status, json } = await createRun(runBody('000.000.002-81'), { key: 'sk_live_production1' });

    expect(status).toBe(400);
    expect(json.error?.code).toBe('invalid_document');
  });

  it('knows any tpl_… template and the configured ones, and answers 404 template_not_found otherwise', async () => {
    const configured = await createRun(runBody('52998224725', { template_id: 'kyc-basic' }));
    const unknown = await createRun(runBody('52998224725', { template_id: 'kyc-premium' }));

    expect(configured.status).toBe(202);
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toEqual({
      type: 'invalid_request_error',
      code: 'template_not_found',
      message: expect.any(String),
      param: 'template_id',
    });
  });
});

describe('GET /bureau/runs/{id}', () => {
  it('shows the run queued until estimated_seconds have passed by the clock, then its decision', async () => {
    // Prepare
    const { json: created } = await createRun(runBody('529.982.247-25', { external_id: 'order-9' }));
    const path = `/bureau/runs/${created.run_id}`;

    // Act
    const atStart = await send('GET', path);
    nowMs = T0_MS + 4_999;
    const justBefore = await send('GET', path);
    nowMs = T0_MS + 5_000;
    const done = await send('GET', path);

    // Assess
    expect(atStart.status).toBe(200);
    expect(atStart.json).toMatchObject({
      status: 'queued',
      decision: null,
      risk_level: null,
      completed_at: null,
      estimated_seconds: 5,
    });
    expect(atStart.json).not.toHaveProperty('failed_at');
    expect(justBefore.json).toMatchObject({ status: 'queued', decision: null });
    expect(done.json).toEqual({
      run_id: created.run_id,
      status: 'completed',
      template_id: 'tpl_onboarding_pf',
      external_id: 'order-9',
      subject: { type: 'pf', doc: '52998224725' },
      metadata: null,
      estimated_seconds: 5,
      created_at: new Date(T0_MS).toISOString(),
      completed_at: new Date(T0_MS + 5_000).toISOString(),
      decision: 'APPROVED',
      risk_level: 'LOW',
    });
  });

  it.each([
    ['000.000.001-91', 'completed', 'APPROVED', 'LOW'],
    ['000.000.002-81', 'blocked', 'BLOCKED', 'CRITICAL'],
    ['000.000.004-53', 'pending_review', 'PENDING_REVIEW', 'HIGH'],
    ['000.000.008-06', 'partial', 'PARTIAL', 'MEDIUM'],
    ['000.000.002-72', 'completed', 'APPROVED', 'LOW'], // valid arithmetic but not a fixture: like any other document
  ])('ends fixture %s %s, decision %s, risk %s', async (doc, status, decision, riskLevel) => {
    const { json: created } = await createRun(runBody(doc));
    nowMs = T0_MS + 5_000;

    const { json } = await send('GET', `/bureau/runs/${created.run_id}`);

    expect(json).toMatchObject({
      status,
      decision,
      risk_level: riskLevel,
      completed_at: new Date(T0_MS + 5_000).toISOString(),
    });
  });

  it('fails a run of tpl_fails: status failed, decision null, failed_at and no completed_at', async () => {
    const { json: created } = await createRun(runBody('000.000.002-81', { template_id: 'tpl_fails' }));
    nowMs = T0_MS + 5_000;

    const { json } = await send('GET', `/bureau/runs/${created.run_id}`);

    expect(json).toMatchObject({
      status: 'failed',
      decision: null,
      risk_level: null,
      failed_at: new Date(T0_MS + 5_000).toISOString(),
    });
    expect(json).not.toHaveProperty('completed_at');
  });

  it('never finishes a run of tpl_never_finishes, though its 202 gave the usual estimate', async () => {
    const { json: created } = await createRun(runBody('52998224725', { template_id: 'tpl_never_finishes' }));
    nowMs = T0_MS + 30 * 86_400_000;

    const { json } = await send('GET', `/bureau/runs/${created.run_id}`);

    expect(created.estimated_seconds).toBe(5);
    expect(json).toMatchObject({ status: 'queued', decision: null, completed_at: null });
  });

  it('answers 404 run_not_found for an unknown id, and for another tenant’s run', async () => {
    const { json: created } = await createRun(runBody('52998224725'));

    const unknown = await send('GET', '/bureau/runs/run_000000000000000000000000');
    const otherTenant = await send('GET', `/bureau/runs/${created.run_id}`, { key: 'sk_test_secretkey9876' });

    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({
      type: 'invalid_request_error',
      code: 'run_not_found',
      param: 'id',
    });
    expect(otherTenant.status).toBe(404);
  });
});

describe('runs that fail or never finish by chance, and estimates per template', () => {
  it('fails every run at runFailureRate 1, finishes none at neverFinishRate 1, and uses the template estimate', async () => {
    // Prepare
    const other = await startKycertSandbox({
      clock: () => nowMs,
      estimatedSecondsByTemplate: { tpl_slow: 120 },
    });
    const post = async (templateId: string) => {
      const response = await request(`${other.baseUrl}/bureau/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': other.apiKey },
        body: JSON.stringify(runBody('52998224725', { template_id: templateId })),
        dispatcher: agent,
      });
      return (await response.body.json()) as { run_id: string; estimated_seconds: number };
    };
    const statusOf = (runId: string) => other.runs().find((run) => run.runId === runId)?.status;

    try {
      // Act
      const slow = await post('tpl_slow');
      other.setFaults({ runFailureRate: 1 });
      const failing = await post('tpl_x');
      other.setFaults({ runFailureRate: 0, neverFinishRate: 1 });
      const stuck = await post('tpl_x');
      nowMs = T0_MS + 119_000;
      const slowBefore = statusOf(slow.run_id);
      nowMs = T0_MS + 120_000;

      // Assess
      expect(slow.estimated_seconds).toBe(120);
      expect([slowBefore, statusOf(slow.run_id)]).toEqual(['queued', 'completed']);
      expect(failing.estimated_seconds).toBe(5);
      expect(statusOf(failing.run_id)).toBe('failed');
      expect(statusOf(stuck.run_id)).toBe('queued');
      expect(() => other.setFaults({ runFailureRate: 2 })).toThrow(
        'runFailureRate must be a number in [0, 1], got 2',
      );
    } finally {
      await other.close();
    }
  });
});

describe('routes', () => {
  it.each([
    ['GET', '/nope', 404, 'route_not_found', undefined],
    ['GET', '/bureau/runs', 405, 'method_not_allowed', 'POST'],
    ['PUT', '/bureau/runs', 405, 'method_not_allowed', 'POST'],
    ['DELETE', '/bureau/runs/run_x', 405, 'method_not_allowed', 'GET'],
  ] as const)('%s %s → %i %s', async (method, path, status, code, allow) => {
    const response = await send(method, path);

    expect(response.status).toBe(status);
    expect(response.json.error?.code).toBe(code);
    expect(response.headers.allow).toBe(allow);
  });
});

describe('request log', () => {
  it('logs each request with the document and the API key masked', async () => {
    // Prepare
    logEntries.length = 0;

    // Act
    await createRun(runBody('529.982.247-25'), { key: 'sk_test_secretkey9876', idempotencyKey: 'log-key-1' });
    await createRun(runBody('529.982.247-24'));

    // Assess
    const logged = JSON.stringify(logEntries);
    expect(logEntries).toHaveLength(2);
    expect(logEntries[0]).toMatchObject({
      method: 'POST',
      path: '/api/v1/bureau/runs',
      status: 202,
      apiKey: 'sk_test_…9876',
      idempotencyKey: 'log-key-1',
      doc: '*********25',
      runId: expect.stringMatching(/^run_/),
    });
    expect(logEntries[1]).toMatchObject({ status: 400, code: 'invalid_document' });
    expect(logged).not.toContain('52998224');
    expect(logged).not.toContain('529.982');
    expect(logged).not.toContain('sk_test_secretkey9876');
  });
});
