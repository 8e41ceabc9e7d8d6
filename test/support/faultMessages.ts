/**
 * Valid run-request messages in any number, for the fault suite and `npm run chaos`: each has its own CPF
 * (check digits computed) and its own key, half given as `idempotency_key`, half derived from `external_id`.
 */

/** A CPF with valid check digits, from any whole number (never one of repeated digits). */
export function cpfFromNumber(n: number): string {
  const base = [...String(100_000_000 + (n % 800_000_000)).padStart(9, '0')].map(Number);
  const checkDigit = (digits: number[]) => {
    const sum = digits.reduce((acc, d, i) => acc + d * (digits.length + 1 - i), 0);
    const remainder = (sum * 10) % 11;
    return remainder === 10 ? 0 : remainder;
  };
  const first = checkDigit(base);
  const second = checkDigit([...base, first]);
  const digits = [...base, first, second].join('');
  return `${digits.slice(0, 3)}.${digits.slice(3, 6)}.${digits.slice(6, 9)}-${digits.slice(9)}`;
}

export interface RequestOptions {
  /** Tells messages of different tests and runs apart. */
  prefix: string;
  /** @default 'tpl_onboarding_pf' (the sandbox knows every `tpl_…`) */
  templateId?: string;
  /** @default n is even: the key is given; odd: derived from template and external id */
  keyGiven?: boolean;
  metadata?: Record<string, string>;
}

/** Message number `n`: a distinct request (its own key, external id and CPF). */
export function requestBody(n: number, options: RequestOptions): string {
  const keyGiven = options.keyGiven ?? n % 2 === 0;
  return JSON.stringify({
    template_id: options.templateId ?? 'tpl_onboarding_pf',
    subject: { type: 'pf', doc: cpfFromNumber(n) },
    external_id: `${options.prefix}-${n}`,
    ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
    ...(keyGiven ? { idempotency_key: `${options.prefix}-key-${String(n).padStart(6, '0')}` } : {}),
  });
}

/** `count` distinct requests, numbered from `from`. */
export function requestBodies(count: number, options: RequestOptions & { from?: number }): string[] {
  const from = options.from ?? 0;
  return Array.from({ length: count }, (_, i) => requestBody(from + i, options));
}

/** kycert answers 404 `template_not_found` (the sandbox knows only `tpl_…` ids): never to be retried. */
export const UNKNOWN_TEMPLATE_ID = 'legacy_onboarding';
