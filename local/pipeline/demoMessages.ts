import type { FaultScript } from '../sandbox/index.js';

/**
 * The demo set of `npm start`: one message per path the worker can take, with the sandbox scripted to
 * misbehave for exactly those messages. What each is expected to end as is printed beside the summary.
 */
export interface DemoMessage {
  body: string;
  shows: string;
}

const person = (doc: string) => ({ type: 'pf', doc });
const message = (externalId: string, fields: Record<string, unknown> = {}) =>
  JSON.stringify({
    template_id: 'tpl_onboarding_pf',
    subject: person('000.000.001-91'),
    external_id: externalId,
    ...fields,
  });

export const DEMO_MESSAGES: readonly DemoMessage[] = [
  { body: message('demo-success'), shows: 'succeeds at once (kycert sandbox fixture: approved, low risk)' },
  {
    body: message('demo-company', {
      template_id: 'tpl_onboarding_pj',
      subject: { type: 'pj', doc: '12.ABC.345/01DE-35' },
    }),
    shows: 'a company with an alphanumeric CNPJ succeeds',
  },
  {
    body: message('demo-rate-limited', { subject: person('000.000.002-81') }),
    shows: '429 with Retry-After, then succeeds',
  },
  {
    body: message('demo-server-error', { subject: person('000.000.004-53') }),
    shows: 'two 503s, backoff, then succeeds',
  },
  {
    body: message('demo-connection-reset', { subject: person('000.000.008-06') }),
    shows:
      'run created but the connection drops; the retry under the same key gets the same run back (200 replay)',
  },
  { body: message('demo-duplicate'), shows: 'sent twice: one run' },
  { body: message('demo-duplicate'), shows: 'the second copy: acknowledged, no second run' },
  {
    body: message('demo-unknown-template', { template_id: 'legacy_onboarding' }),
    shows: 'kycert answers 404: straight to the DLQ, never retried',
  },
  {
    body: message('demo-always-failing'),
    shows: 'kycert keeps failing: retries run out, DLQ with retries_exhausted',
  },
  {
    body: message('demo-bad-cpf', { subject: person('123.456.789-00') }),
    shows: 'CPF check digits wrong: DLQ, kycert never called',
  },
  { body: 'this is not JSON', shows: 'not JSON: DLQ with the body verbatim' },
];

/** Makes the sandbox misbehave for the demo messages above, by external id and attempt. */
export const demoFaultScript: FaultScript = ({ externalId, postNumber }) => {
  switch (externalId) {
    case 'demo-rate-limited':
      return postNumber === 1 ? 'rateLimit' : undefined;
    case 'demo-server-error':
      return postNumber <= 2 ? 'serverError' : undefined;
    case 'demo-connection-reset':
      return postNumber === 1 ? 'resetAfterCreate' : undefined;
    case 'demo-always-failing':
      return 'serverError';
    default:
      return undefined;
  }
};
