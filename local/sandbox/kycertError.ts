/** kycert's error envelope: every 4xx and 5xx body has this shape. */
export interface KycertErrorBody {
  error: {
    type: KycertErrorType;
    code: string;
    message: string;
    /** The request field at fault (`subject.doc`), or `null` when the error is not about one field. */
    param: string | null;
  };
}

export const KycertErrorType = {
  authentication: 'authentication_error',
  permission: 'permission_error',
  invalidRequest: 'invalid_request_error',
  idempotency: 'idempotency_error',
  billing: 'billing_error',
  rateLimit: 'rate_limit_error',
  api: 'api_error',
} as const;
export type KycertErrorType = (typeof KycertErrorType)[keyof typeof KycertErrorType];

export function kycertError(
  type: KycertErrorType,
  code: string,
  message: string,
  param: string | null = null,
): KycertErrorBody {
  return { error: { type, code, message, param } };
}
