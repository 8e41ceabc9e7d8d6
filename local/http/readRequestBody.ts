import type { IncomingMessage } from 'node:http';

/**
 * A request's body, kept up to `maxBytes`; `bytes` counts all of it. Read to the end even past the limit, so
 * that the socket stays usable for the answer that refuses it.
 */
export async function readRequestBody(
  req: IncomingMessage,
  maxBytes: number,
): Promise<{ body: Buffer; bytes: number; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    bytes += buffer.length;
    if (bytes <= maxBytes) chunks.push(buffer);
  }
  return { body: Buffer.concat(chunks), bytes, tooLarge: bytes > maxBytes };
}
