/**
 * P2's baseline as a Lambda entry point, run in execution environments of its own like the worker: the
 * in-function retry loop of referenceRetryLoop.ts, configured from its environment (KYCERT_BASE_URL,
 * KYCERT_API_KEY, MAX_ATTEMPTS), built once per environment.
 */
import { createReferenceHandler } from './referenceRetryLoop.js';

const reference = createReferenceHandler({
  baseUrl: process.env.KYCERT_BASE_URL ?? '',
  apiKey: process.env.KYCERT_API_KEY ?? '',
  maxAttempts: Number(process.env.MAX_ATTEMPTS ?? 4),
});

export const handler = reference.handler;
