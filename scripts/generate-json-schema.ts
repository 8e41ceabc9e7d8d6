/**
 * Writes the published JSON Schema of the message from the zod schema the worker validates with, so the two
 * cannot drift (test/jsonSchema.test.ts fails when the committed file is stale: run `npm run schema`).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { RunRequestMessageSchema } from '../functions/kycert-worker/runRequestMessage.js';

export const JSON_SCHEMA_PATH = fileURLToPath(
  new URL('../schema/run-request-message.v1.schema.json', import.meta.url),
);

export function runRequestJsonSchema(): string {
  const schema = z.toJSONSchema(RunRequestMessageSchema, { io: 'input', target: 'draft-2020-12' });
  const published = {
    $schema: schema.$schema,
    $id: 'urn:kycert-queue:run-request-message:v1',
    ...schema,
    description:
      'One message on the kycert-queue SQS queue = one kycert run. Besides this shape, the worker verifies the ' +
      'CPF/CNPJ check digits and requires idempotency_key or external_id.',
  };
  return `${JSON.stringify(published, null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(JSON_SCHEMA_PATH, runRequestJsonSchema());
  console.log(`wrote ${JSON_SCHEMA_PATH}`);
}
