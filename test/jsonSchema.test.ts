import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JSON_SCHEMA_PATH, runRequestJsonSchema } from '../scripts/generate-json-schema.js';

describe('published JSON Schema', () => {
  it('is the one generated from the validator (run `npm run schema` after changing the message)', () => {
    expect(readFileSync(JSON_SCHEMA_PATH, 'utf8')).toBe(runRequestJsonSchema());
  });

  it('states the required fields, the closed shape and the key-or-external_id rule', () => {
    const schema = JSON.parse(runRequestJsonSchema());
    expect(schema.required).toEqual(['template_id', 'subject']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.anyOf).toEqual([{ required: ['idempotency_key'] }, { required: ['external_id'] }]);
    expect(schema.properties.subject.properties.type.enum).toEqual(['pf', 'pj']);
    expect(schema.properties.metadata.maxProperties).toBe(10);
    expect(schema.properties.metadata.additionalProperties.maxLength).toBe(500);
  });
});
