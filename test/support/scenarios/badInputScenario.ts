import { BAD_INPUT_CATALOGUE } from '../badInputCatalogue.js';
import { requestBodies } from '../faultMessages.js';
import { type FaultPipeline, SINGLE_ENVIRONMENT } from '../faultPipeline.js';
import type { FaultScenario } from '../faultScenario.js';
import { COMMON_OPTIONS } from './kycertFaults.js';

/** The README's whole bad-input catalogue through the pipeline, among a few valid requests. */
export const BAD_INPUT_ID = 'e2e';
export const BAD_INPUT_VALID_COUNT = 4;

export function badInputScenarios() {
  return {
    catalogue: {
      name: 'the bad-input catalogue',
      options: { ...COMMON_OPTIONS, ...SINGLE_ENVIRONMENT, batchSize: 10 },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue([
          ...BAD_INPUT_CATALOGUE.map((c) => c.body(BAD_INPUT_ID)),
          ...requestBodies(BAD_INPUT_VALID_COUNT, { prefix: 'catalogue-valid' }),
        ]);
        await pipeline.settle();
      },
    },
  } satisfies Record<string, FaultScenario<unknown>>;
}
