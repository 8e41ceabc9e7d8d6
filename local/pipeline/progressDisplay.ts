import { Presets, SingleBar } from 'cli-progress';
import type { SandboxStats } from '../sandbox/index.js';
import type { PipelineSnapshot } from './startLocalPipeline.js';

/** A live progress bar on a terminal; a plain line whenever something changed otherwise (CI logs, pipes). */
export function createProgressDisplay(options: { total: number; tty: boolean }) {
  const bar = options.tty
    ? new SingleBar(
        {
          format:
            ' {bar} {value}/{total} done · {pending} pending · {dlq} in DLQ · {followed} runs awaiting a decision · kycert: {posts} POSTs, {runs} runs',
          hideCursor: true,
        },
        Presets.shades_classic,
      )
    : undefined;
  bar?.start(options.total, 0, { pending: options.total, dlq: 0, followed: 0, posts: 0, runs: 0 });
  let lastLine = '';
  return {
    update(snapshot: PipelineSnapshot, sandbox: SandboxStats | undefined) {
      const done = Math.max(0, snapshot.enqueued - snapshot.pending);
      const values = {
        pending: snapshot.pending,
        dlq: snapshot.deadLettered,
        followed: snapshot.statusChecksPending,
        posts: sandbox?.postRuns ?? '?',
        runs: sandbox?.runsCreated ?? '?',
      };
      if (bar !== undefined) {
        bar.setTotal(snapshot.enqueued);
        bar.update(done, values);
        return;
      }
      const line = `progress: ${done}/${snapshot.enqueued} done, ${values.pending} pending, ${values.dlq} in DLQ, ${values.followed} runs awaiting a decision, kycert ${values.posts} POSTs, ${values.runs} runs`;
      if (line !== lastLine) console.log(line);
      lastLine = line;
    },
    stop() {
      bar?.stop();
    },
  };
}
