/**
 * P1's baseline as a Lambda entry point, run in an execution environment like the worker: each record's body
 * is a prepared kycert request (`{ idempotencyKey, kycertBody }`, see kycertPostFor) POSTed as is, all the
 * records of an event at once, through an Agent with the kycert client's settings. Nothing else: what is
 * left of the worker's time per message, beside this, is its overhead. Configured by KYCERT_BASE_URL and
 * KYCERT_API_KEY.
 */
import type { SQSEvent } from 'aws-lambda';
import { Agent, request } from 'undici';

const baseUrl = process.env.KYCERT_BASE_URL ?? '';
const apiKey = process.env.KYCERT_API_KEY ?? '';
const agent = new Agent({ connect: { timeout: 3_000 }, headersTimeout: 10_000, bodyTimeout: 10_000 });

export const handler = async (event: SQSEvent): Promise<void> => {
  await Promise.all(
    event.Records.map(async (record) => {
      const { idempotencyKey, kycertBody } = JSON.parse(record.body) as {
        idempotencyKey: string;
        kycertBody: string;
      };
      const response = await request(`${baseUrl}/bureau/runs`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'user-agent': 'kycert-queue-bench',
          'x-api-key': apiKey,
          'idempotency-key': idempotencyKey,
        },
        body: kycertBody,
        dispatcher: agent,
      });
      await response.body.text();
      if (response.statusCode !== 202) throw new Error(`bare POST answered ${response.statusCode}`);
    }),
  );
};
