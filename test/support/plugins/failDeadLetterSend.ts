import type { WorkerPluginFactory } from '../../../local/lambda/WorkerPlugin.js';
import { wrapMethod } from '../../../local/lambda/wrapMethod.js';
import { sqsThrottled, type When, withFault } from './awsFaultPlugins.js';

export type DeadLetterFailureEvent = { dlqFailed: When };

/**
 * The DLQ's SendMessage fails once per source message, wherever its copies run: alternately before the
 * message is stored and after.
 */
const failDeadLetterSend: WorkerPluginFactory<null> = (_options, { count, report }) => ({
  wrapDeps(deps) {
    wrapMethod(deps.deadLetterQueue, 'send', (send) => async (entry) => {
      if ((await count(`dlq:${entry.sourceMessageId}`)) !== 1) return send(entry);
      const when: When = (await count('dlq-failed')) % 2 === 0 ? 'before' : 'after';
      report({ dlqFailed: when } satisfies DeadLetterFailureEvent);
      return withFault(
        when,
        () => sqsThrottled('SendMessage'),
        () => send(entry),
      );
    });
    return deps;
  },
});
export default failDeadLetterSend;
