#!/usr/bin/env node
/**
 * kycert-queue, the operator CLI: send messages, read outcomes, inspect and redrive the DLQ.
 * Exit codes: 0 done · 1 something failed, was invalid or refused (the message says what) · 2 bad usage.
 * See docs/operations.md.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_STAGE, stackNameFor } from '../lib/stackName.js';
import packageJson from '../package.json' with { type: 'json' };
import { listDeadLetters, renderDeadLetters } from './commands/dlqList.js';
import {
  correctionsFromJsonLines,
  type RedriveOptions,
  redriveDeadLetters,
  renderRedriveReport,
  unfinished,
} from './commands/dlqRedrive.js';
import { renderShownDeadLetters, showDeadLetters } from './commands/dlqShow.js';
import { getFlowState, renderFlowState } from './commands/flow.js';
import {
  LIST_DECISIONS,
  LIST_RUN_STATUSES,
  LIST_STATUSES,
  type ListFilter,
  listOutcomes,
  renderOutcomePage,
} from './commands/list.js';
import {
  messageFromFlags,
  messagesFromJsonLines,
  renderSendResults,
  type SendInput,
  sendMessages,
} from './commands/send.js';
import { getOutcome, keyToLookUp, renderOutcome } from './commands/status.js';
import { parseSince } from './duration.js';
import { createBodyEditor } from './editor.js';
import { CliError, ExitCode, UsageError } from './errors.js';
import { type Layout, type Progress, progressBar } from './output.js';
import {
  DEFAULT_LOCAL_STATE_FILE,
  LOCAL_STATE_ENV_VARIABLE,
  need,
  resolveTarget,
  STACK_ENV_VARIABLE,
  type Target,
  type TargetOptions,
} from './target.js';

/** Where the CLI reads and writes; tests pass their own. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readStdin(): Promise<string>;
  env: NodeJS.ProcessEnv;
  stdinIsTTY: boolean;
  /** The stream a progress bar may draw on (only when it is a terminal). */
  progressStream?: NodeJS.WriteStream | undefined;
  /** The terminal's width when stdout is one: tables are fitted to it. */
  columns?: number | undefined;
  /** Asks a question on the terminal and returns the answer (only called when stdin is a terminal). */
  ask?: (question: string) => Promise<string>;
  nowMs(): number;
  /** Replaces target resolution (tests). */
  resolveTarget?: (options: TargetOptions) => Promise<Target>;
}

export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk));
      return Buffer.concat(chunks).toString('utf8');
    },
    env: process.env,
    stdinIsTTY: process.stdin.isTTY === true,
    progressStream: process.stderr,
    columns: process.stdout.isTTY === true ? process.stdout.columns : undefined,
    ask: async (question) => {
      const terminal = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await terminal.question(question);
      } finally {
        terminal.close();
      }
    },
    nowMs: Date.now,
  };
}

interface GlobalOptions extends TargetOptions {
  json?: boolean;
  wide?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

const integer = (flag: string, min: number, max: number) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max}.`);
  }
  return parsed;
};

/** Runs one command line; returns the exit code. Never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const targets: Target[] = [];
  const program = buildProgram(io, {
    setExitCode: (code) => {
      exitCode = Math.max(exitCode, code);
    },
    track: (target) => targets.push(target),
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; commander has already printed its error and the usage.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (error instanceof CliError) {
      io.stderr(`kycert-queue: ${error.message}\n`);
      return error.exitCode;
    }
    const cause = (error as Error).message ?? String(error);
    const where = targets[0] === undefined ? '' : ` (target: ${targets[0].description})`;
    io.stderr(`kycert-queue: ${cause}${where}\n`);
    return ExitCode.failure;
  } finally {
    for (const target of targets) target.destroy();
  }
}

function buildProgram(
  io: CliIo,
  hooks: { setExitCode(code: number): void; track(target: Target): void },
): Command {
  const program = new Command('kycert-queue')
    .description(
      'Operate kycert-queue: send run requests, read outcomes, inspect and redrive the DLQ.\n\n' +
        'Targets a deployed stack (its outputs name the queue, DLQ and table), the local pipeline (--local), ' +
        'or resources given by hand. Tables for people by default, --json for scripts.',
    )
    .version(packageJson.version)
    .option(
      '--stack <name>',
      `the stack to operate (default: $${STACK_ENV_VARIABLE}, else ${stackNameFor(DEFAULT_STAGE)}; never prod by omission)`,
    )
    .option('--stage <stage>', 'the stack kycert-queue-<stage>')
    .option('--region <region>', 'AWS region (default: the standard chain: AWS_REGION, the profile…)')
    .option(
      '--profile <name>',
      'AWS profile of ~/.aws/config and credentials (default: AWS_PROFILE, else default)',
    )
    .option('--local', `the local pipeline started by \`npm start -- --keep-running\``)
    .option(
      '--local-state <file>',
      `the local pipeline's state file (default: $${LOCAL_STATE_ENV_VARIABLE}, else ${DEFAULT_LOCAL_STATE_FILE} here or above)`,
    )
    .option(
      '--queue-url <url>',
      'the requests queue (overrides the stack output); on a host other than AWS (LocalStack, an emulator) SQS requests go there',
    )
    .option('--dlq-url <url>', 'the dead-letter queue (overrides the stack output); same rule as --queue-url')
    .option('--table <name>', 'the outcome table (overrides the stack output)')
    .option('--json', 'print JSON for scripts instead of tables')
    .option('--wide', 'tables with every column whole, not fitted to the terminal nor cut short')
    .addHelpText(
      'after',
      '\nAWS credentials and region come from the standard chain (or --profile, --region); AWS_ENDPOINT_URL_SQS /\n' +
        '_DYNAMODB / _CLOUDFORMATION (or AWS_ENDPOINT_URL) point the clients elsewhere, as for the worker.\n' +
        'Commands that change something (send, dlq redrive) say first which stack or queues they act on.\n' +
        'Exit codes: 0 done, 1 something failed, was invalid or was refused, 2 bad usage.\n' +
        'Guide and runbook: docs/operations.md',
    );
  configure(program, io);

  const target = async (command: Command): Promise<{ target: Target; json: boolean; layout: Layout }> => {
    const globals = command.optsWithGlobals<GlobalOptions>();
    const resolved = await (io.resolveTarget ?? ((options) => resolveTarget(options, { env: io.env })))({
      stack: globals.stack,
      stage: globals.stage,
      region: globals.region,
      profile: globals.profile,
      local: globals.local,
      localState: globals.localState,
      queueUrl: globals.queueUrl,
      dlqUrl: globals.dlqUrl,
      table: globals.table,
    });
    hooks.track(resolved);
    for (const note of resolved.notes) io.stderr(`kycert-queue: ${note}\n`);
    return { target: resolved, json: globals.json === true, layout: layoutOf(globals) };
  };
  const layoutOf = (globals: GlobalOptions): Layout => ({
    width: globals.wide === true ? undefined : io.columns,
    wide: globals.wide === true,
  });
  /** A command that changes something says first what it acts on (stderr: stdout stays clean for --json). */
  const announce = (what: string) => io.stderr(`kycert-queue: ${what}\n`);
  const print = (json: boolean, data: unknown, human: () => string) => {
    io.stdout(json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
  };
  const progress = (label: string): Progress =>
    io.progressStream === undefined ? { update() {}, stop() {} } : progressBar(label, io.progressStream);
  const usage = (command: Command) => (error: unknown) => {
    if (error instanceof UsageError) command.error(`error: ${error.message}`, { exitCode: ExitCode.usage });
    throw error;
  };

  program
    .command('send')
    .description(
      'Validate and send run requests: one from flags or a JSON argument, or a JSONL file.\n\n' +
        'Invalid messages are listed with the reason the DLQ would give and are not sent; the valid ones are ' +
        'sent anyway, and the exit code is then 1.',
    )
    .argument(
      '[message]',
      'one message as JSON, e.g. \'{"template_id":"tpl_x","subject":{…},"external_id":"o-1"}\'',
    )
    .option(
      '--file <file>',
      'a JSON Lines file: one message per line ("-" for stdin); a pretty-printed JSON array is refused',
    )
    .option('--template <id>', 'template_id')
    .option('--doc <cpf-or-cnpj>', 'subject.doc (CPF or CNPJ, punctuation allowed)')
    .addOption(
      new Option('--type <type>', 'subject.type (default: pj for a 14-character document, else pf)').choices([
        'pf',
        'pj',
      ]),
    )
    .option('--external-id <id>', 'external_id')
    .option('--key <idempotency-key>', 'idempotency_key (default: derived from template and external id)')
    .option('--metadata <key=value>', 'a metadata entry (repeatable)', collect)
    .option('--dry-run', 'validate only; send nothing')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  kycert-queue send --template tpl_onboarding_pf --doc 000.000.001-91 --external-id order-8812\n' +
        '  kycert-queue send \'{"template_id":"tpl_onboarding_pf","subject":{"type":"pf","doc":"00000000191"},"external_id":"o-1"}\'\n' +
        '  kycert-queue send --file requests.jsonl --json',
    )
    .action(async (message: string | undefined, flags, command: Command) => {
      const hasFlags = ['template', 'doc', 'type', 'externalId', 'key', 'metadata'].some(
        (name) => flags[name] !== undefined,
      );
      const sources = [message !== undefined, flags.file !== undefined, hasFlags].filter(Boolean).length;
      let inputs: SendInput[];
      try {
        if (sources !== 1) {
          throw new UsageError(
            'send takes exactly one of: a JSON message, --file, or message flags (--template, --doc…)',
          );
        }
        if (flags.file !== undefined) {
          const name = flags.file === '-' ? 'stdin' : flags.file;
          const text = flags.file === '-' ? await io.readStdin() : readText(flags.file, '--file');
          inputs = messagesFromJsonLines(text, name);
          if (inputs.length === 0) throw new CliError(`${name} holds no message`);
        } else if (message !== undefined) {
          inputs = [{ source: 'argument', text: message }];
        } else {
          inputs = [messageFromFlags(flags)];
        }
      } catch (error) {
        usage(command)(error);
        return;
      }
      const dryRun = flags.dryRun === true;
      // A dry run validates only: no target needed.
      const globals = command.optsWithGlobals<GlobalOptions>();
      const json = globals.json === true;
      const t = dryRun ? undefined : (await target(command)).target;
      if (t !== undefined) announce(`sending ${inputs.length} message(s) to ${t.description}`);
      const bar = progress('sending');
      const results = await sendMessages(
        t === undefined ? undefined : { sqs: t.sqs, queueUrl: need(t, 'queueUrl') },
        inputs,
        { dryRun, onProgress: (done, total) => bar.update(done, total) },
      ).finally(() => bar.stop());
      print(json, { results }, () => renderSendResults(results, { dryRun, layout: layoutOf(globals) }));
      if (results.some((result) => !result.ok)) hooks.setExitCode(ExitCode.failure);
    });

  program
    .command('status')
    .description('The outcome of one idempotency key: status, run id, attempts, last error, times.')
    .argument('[idempotency-key]', 'the key (as `dlq list` and `send` print it)')
    .option(
      '--template <id>',
      'with --external-id: the key the worker derives for a message without idempotency_key',
    )
    .option('--external-id <id>', 'see --template')
    .addHelpText(
      'after',
      '\nExamples:\n  kycert-queue status 5b0e5a9e-1f0c-4c8e-9d51-0c6f1c7d2a11\n  kycert-queue status --template tpl_onboarding_pf --external-id order-8812 --json',
    )
    .action(async (key: string | undefined, flags, command: Command) => {
      let lookup: string;
      try {
        lookup = keyToLookUp(key, flags);
      } catch (error) {
        usage(command)(error);
        return;
      }
      const { target: t, json } = await target(command);
      const outcome = await getOutcome(t.dynamodb, need(t, 'tableName'), lookup);
      print(json, outcome, () => renderOutcome(outcome, io.nowMs(), t.idempotencyWindowHours));
    });

  program
    .command('flow')
    .description(
      'The shared flow control: running, or paused for the account (402, 403, a persisting 401, the key unset), with the next probe; the rate schedule.',
    )
    .addHelpText('after', '\nExamples:\n  kycert-queue flow --stage prod\n  kycert-queue flow --json')
    .action(async (_flags, command: Command) => {
      const { target: t, json } = await target(command);
      const flow = await getFlowState(t.dynamodb, need(t, 'tableName'));
      print(json, flow, () => renderFlowState(flow, io.nowMs()));
    });

  const oneOf =
    (flag: string, allowed: readonly string[], why = '') =>
    (value: string) => {
      if (!allowed.includes(value)) {
        throw new InvalidArgumentError(`${flag} takes ${allowed.join(', ')}${why}; got "${value}".`);
      }
      return value;
    };
  program
    .command('list')
    .description(
      "Outcomes of one kind, newest first, from the table's by-list-status index: dead-lettered keys, decisions, " +
        'failed or overdue runs, unmatched webhooks; paged.',
    )
    .option(
      '--status <status>',
      'dead-lettered keys (failed)',
      oneOf(
        '--status',
        LIST_STATUSES,
        ' (the list index holds dead-lettered keys; see one key of another status with `status <key>`)',
      ),
    )
    .option(
      '--decision <decision>',
      `runs decided so: ${LIST_DECISIONS.join(', ')}`,
      oneOf('--decision', LIST_DECISIONS),
    )
    .option(
      '--run-status <status>',
      `runs that ended without a decision: ${LIST_RUN_STATUSES.join(', ')}`,
      oneOf('--run-status', LIST_RUN_STATUSES),
    )
    .option('--unmatched', 'verified webhooks for runs no outcome held (parked for the worker)')
    .option('--since <when>', 'written since: a duration back from now (30m, 1h, 2d) or an ISO-8601 time')
    .option('--limit <n>', 'outcomes per page', integer('--limit', 1, 1000), 50)
    .option('--next-token <token>', 'the next page, as printed by the previous one')
    .addHelpText(
      'after',
      '\nExamples:\n  kycert-queue list --status failed --since 1h\n  kycert-queue list --decision blocked --since 1d --json' +
        '\n  kycert-queue list --run-status decision_overdue\n  kycert-queue list --unmatched --since 2h',
    )
    .action(async (flags, command: Command) => {
      let sinceMs: number | undefined;
      let filter: ListFilter;
      try {
        filter = listFilterOf(flags);
        sinceMs = flags.since === undefined ? undefined : parseSince(flags.since, io.nowMs());
      } catch (error) {
        usage(command)(error);
        return;
      }
      const { target: t, json, layout } = await target(command);
      const options = { filter, sinceMs, limit: flags.limit, nextToken: flags.nextToken };
      const page = await listOutcomes(t.dynamodb, need(t, 'tableName'), options).catch(usage(command));
      if (page === undefined) return;
      print(json, page, () => renderOutcomePage(page, { ...options, sinceText: flags.since, layout }));
    });

  const dlq = program
    .command('dlq')
    .description('The dead-letter queue: list, show and redrive its messages.');
  configure(dlq, io);

  dlq
    .command('list')
    .description(
      "The DLQ's messages with their reason, detail, key and body (documents masked), without consuming " +
        'them: they stay in the DLQ. --json prints the bodies verbatim.',
    )
    .option(
      '--reason <prefix>',
      'only reasons starting with this (repeatable; "none": moved by SQS itself)',
      collect,
    )
    .option('--key <idempotency-key>', 'only this key (repeatable)', collect)
    .option('--limit <n>', 'read at most this many messages', integer('--limit', 1, 100_000), 1_000)
    .addHelpText(
      'after',
      '\nExamples:\n  kycert-queue dlq list\n  kycert-queue dlq list --reason kycert_rejected --json',
    )
    .action(async (flags, command: Command) => {
      const { target: t, json, layout } = await target(command);
      const listing = await listDeadLetters(t.sqs, need(t, 'deadLetterQueueUrl'), {
        reasons: flags.reason,
        keys: flags.key,
        limit: flags.limit,
      });
      print(json, listing, () =>
        renderDeadLetters(listing, {
          filtered: flags.reason !== undefined || flags.key !== undefined,
          layout,
        }),
      );
    });

  dlq
    .command('show')
    .description('One DLQ message in full, body verbatim (it holds the CPF/CNPJ), without consuming it.')
    .argument('<message-id-or-key>', 'a DLQ message id, or an idempotency key (every copy of it)')
    .action(async (which: string, _flags, command: Command) => {
      const { target: t, json } = await target(command);
      const messages = await showDeadLetters(t.sqs, need(t, 'deadLetterQueueUrl'), which);
      print(json, { messages }, () => renderShownDeadLetters(messages));
    });

  dlq
    .command('redrive')
    .description(
      "Move DLQ messages back to the requests queue: all of them (SQS's move task in AWS), or a selection.\n\n" +
        'An unchanged message keeps its idempotency key, and its failed outcome is reopened first so the worker ' +
        'calls kycert again. A corrected one (--edit, --bodies) or --fresh-key gets a fresh key, and the old ' +
        'outcome records superseded_by.\n\n' +
        'Refused, and left in the DLQ: a body still invalid, a key past its 22 h window (use --fresh-key), a ' +
        'kycert_rejected 4xx that kycert keeps under the key (use --fresh-key, or --force). Exit code 1 when ' +
        'any selected message stayed in the DLQ.',
    )
    .option(
      '--reason <prefix>',
      'only reasons starting with this (repeatable; "none": moved by SQS itself)',
      collect,
    )
    .option('--key <idempotency-key>', 'only this key (repeatable)', collect)
    .option('--message-id <id>', 'only this DLQ message (repeatable)', collect)
    .option(
      '--fresh-key',
      'send the bodies unchanged but under a fresh idempotency key (a new kycert request)',
    )
    .option('--edit', 'correct each selected body in $EDITOR, then send it under a fresh key')
    .option(
      '--bodies <file>',
      'corrected bodies, JSONL: each matched by its idempotency_key (or template_id + external_id), or given as {"message_id": "…", "body": {…}}; sent under fresh keys',
    )
    .option(
      '--force',
      'send kycert_rejected messages unchanged; use a fresh key even if the old key succeeded or is running',
    )
    .option('--dry-run', 'print what would be redriven; change nothing')
    .option('--yes', 'redrive more than one message without asking (needed without a terminal)')
    .option('--no-move-task', "never use SQS's move task; move messages one by one")
    .option('--no-wait', "do not wait for SQS's move task to finish")
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  kycert-queue dlq redrive --reason retries_exhausted\n' +
        '  kycert-queue dlq redrive --reason kycert_rejected:insufficient_credits --fresh-key --dry-run\n' +
        '  kycert-queue dlq redrive --key order-8812-key --edit\n' +
        '  kycert-queue dlq redrive --bodies corrected.jsonl --json',
    )
    .action(async (flags, command: Command) => {
      const options: RedriveOptions = {
        reasons: flags.reason,
        keys: flags.key,
        messageIds: flags.messageId,
        freshKey: flags.freshKey === true,
        force: flags.force === true,
        dryRun: flags.dryRun === true,
        moveTask: flags.moveTask !== false,
        wait: flags.wait !== false,
        nowMs: io.nowMs,
      };
      try {
        if ([flags.freshKey, flags.edit, flags.bodies].filter((flag) => flag !== undefined).length > 1) {
          throw new UsageError('choose one of --fresh-key, --edit and --bodies');
        }
        if (flags.bodies !== undefined) {
          const name = flags.bodies === '-' ? 'stdin' : flags.bodies;
          options.corrections = correctionsFromJsonLines(
            flags.bodies === '-' ? await io.readStdin() : readText(flags.bodies, '--bodies'),
            name,
          );
          if (options.corrections.length === 0) throw new UsageError(`${name} holds no corrected body`);
        }
        if (flags.edit === true)
          options.edit = createBodyEditor(io.env, { stdinIsTTY: io.stdinIsTTY, stderr: io.stderr });
      } catch (error) {
        usage(command)(error);
        return;
      }
      const { target: t, json, layout } = await target(command);
      announce(
        `${options.dryRun === true ? 'dry run: redriving' : 'redriving'} from the DLQ to the requests queue of ${t.description}`,
      );
      options.confirm = async (count) => {
        if (count <= 1 || flags.yes === true) return;
        const question = `Redrive ${count} DLQ messages to the requests queue of ${t.description}?`;
        if (!io.stdinIsTTY || io.ask === undefined) {
          throw new CliError(`${question} Not without confirmation: pass --yes (no terminal to ask on)`);
        }
        const answer = await io.ask(`${question} [y/N] `);
        if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('not confirmed: nothing was redriven');
      };
      const bar = progress('redriving');
      const report = await redriveDeadLetters(
        {
          sqs: t.sqs,
          dynamodb: t.dynamodb,
          queueUrl: need(t, 'queueUrl'),
          deadLetterQueueUrl: need(t, 'deadLetterQueueUrl'),
          tableName: need(t, 'tableName'),
          idempotencyWindowHours: t.idempotencyWindowHours,
          moveTask: t.supportsMessageMoveTask
            ? { queueArn: () => t.queueArn(), deadLetterQueueArn: () => t.deadLetterQueueArn() }
            : undefined,
        },
        { ...options, onProgress: (done, total) => bar.update(done, total) },
      ).finally(() => bar.stop());
      print(json, report, () => renderRedriveReport(report, layout));
      if (unfinished(report).length > 0) hooks.setExitCode(ExitCode.failure);
    });

  for (const command of program.commands) configure(command, io);
  for (const command of dlq.commands) configure(command, io);
  return program;
}

function configure(command: Command, io: CliIo): void {
  command
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError(true)
    .exitOverride();
}

function readText(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${flag} ${file}: ${(error as Error).message}`);
  }
}

/** Exactly one of the list's kinds. @throws UsageError otherwise */
function listFilterOf(flags: {
  status?: string;
  decision?: string;
  runStatus?: string;
  unmatched?: boolean;
}): ListFilter {
  const given: ListFilter[] = [
    ...(flags.status === undefined ? [] : [{ kind: 'status', value: flags.status } as ListFilter]),
    ...(flags.decision === undefined ? [] : [{ kind: 'decision', value: flags.decision } as ListFilter]),
    ...(flags.runStatus === undefined ? [] : [{ kind: 'runStatus', value: flags.runStatus } as ListFilter]),
    ...(flags.unmatched === true ? [{ kind: 'unmatched' } as ListFilter] : []),
  ];
  if (given.length !== 1) {
    throw new UsageError('list takes exactly one of --status, --decision, --run-status and --unmatched');
  }
  return given[0] as ListFilter;
}

const invokedDirectly =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  // `kycert-queue dlq list | head`: the reader has gone, which is no error of ours.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? ExitCode.ok);
  });
  process.exitCode = await runCli(process.argv.slice(2), processIo());
}
