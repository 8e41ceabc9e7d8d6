/** The producer side of kycert-queue's public API: the message schema and a typed helper to send it. */
export {
  deriveIdempotencyKey,
  MAX_MESSAGE_BYTES,
  parseRunRequestMessage,
  type RunRequestMessage,
  RunRequestMessageSchema,
} from '../functions/kycert-worker/runRequestMessage.js';
export {
  type BatchResult,
  buildRunRequestMessage,
  InvalidRunRequestError,
  RunRequestProducer,
  type SentRunRequest,
} from './runRequestProducer.js';
