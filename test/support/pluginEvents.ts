import type { ExecutionEnvironmentEvent } from '../../local/lambda/startExecutionEnvironments.js';

/**
 * What a scenario's worker plugins report from the execution environments, in the order it arrived; pass
 * `onEnvironmentEvent` to the pipeline. Reports are sent before the invocation's result, over the same
 * channel, so once the pipeline has settled every report of a finished invocation is in.
 */
export function collectPluginEvents<Event>(): {
  readonly events: Event[];
  onEnvironmentEvent(event: ExecutionEnvironmentEvent): void;
} {
  const events: Event[] = [];
  return {
    events,
    onEnvironmentEvent(event) {
      if (event.type === 'pluginEvent') events.push(event.data as Event);
    },
  };
}
