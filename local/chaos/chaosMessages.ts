import { BAD_INPUT_CATALOGUE } from '../../test/support/badInputCatalogue.js';
import { requestBody, UNKNOWN_TEMPLATE_ID } from '../../test/support/faultMessages.js';
import { seededRandom } from '../sandbox/index.js';

export interface ChaosMixOptions {
  count: number;
  seed: number;
  /** Share of messages that are another copy of an earlier request. @default 0.02 */
  duplicateRate?: number;
  /** Share of messages taken from the bad-input catalogue. @default 0.02 */
  invalidRate?: number;
  /** Share of requests for a template kycert does not know (404, never retried). @default 0.01 */
  rejectedRate?: number;
}

export interface ChaosMix {
  bodies: string[];
  requests: number;
  duplicates: number;
  invalid: number;
  rejected: number;
}

/**
 * The messages of a chaos run, the same for the same seed: mostly distinct valid requests, some copies of
 * earlier ones (some land in the same batch, some much later), some from the bad-input catalogue (every case
 * in turn, each with its own id), and some for a template kycert does not know.
 */
export function createChaosMessages(options: ChaosMixOptions): ChaosMix {
  const random = seededRandom(options.seed);
  const duplicateRate = options.duplicateRate ?? 0.02;
  const invalidRate = options.invalidRate ?? 0.02;
  const rejectedRate = options.rejectedRate ?? 0.01;
  const prefix = `chaos-${options.seed}`;
  const mix: ChaosMix = { bodies: [], requests: 0, duplicates: 0, invalid: 0, rejected: 0 };
  const valid: string[] = [];
  for (let i = 0; i < options.count; i++) {
    const draw = random();
    if (draw < invalidRate) {
      const entry = BAD_INPUT_CATALOGUE[mix.invalid % BAD_INPUT_CATALOGUE.length];
      if (entry === undefined) throw new Error('the bad-input catalogue is empty');
      mix.bodies.push(entry.body(`${prefix}-${i}`));
      mix.invalid += 1;
    } else if (draw < invalidRate + duplicateRate && valid.length > 0) {
      // Mostly a recent request (likely in flight, maybe in the same batch), sometimes any earlier one.
      const back = random() < 0.5 ? 1 + Math.floor(random() * Math.min(20, valid.length)) : valid.length;
      const index = back === valid.length ? Math.floor(random() * valid.length) : valid.length - back;
      mix.bodies.push(valid[index] as string);
      mix.duplicates += 1;
    } else {
      const rejected = random() < rejectedRate / (1 - invalidRate - duplicateRate);
      const body = requestBody(i, { prefix, ...(rejected ? { templateId: UNKNOWN_TEMPLATE_ID } : {}) });
      valid.push(body);
      mix.bodies.push(body);
      mix.requests += 1;
      if (rejected) mix.rejected += 1;
    }
  }
  return mix;
}
