import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ReplayRequest } from '../lambdas/core/replay-request.js';
import { runAudit } from './audit-command.js';
import { runConsole } from './console-command.js';
import { runDestinations } from './destinations/index.js';
import { runHealth } from './health-command.js';
import {
  formatCounts,
  newerDeadLettersNote,
  parseReplayArgs,
  REPLAY_HELP,
  type ReplayCommand,
  resumedNote,
} from './replay-command.js';
import { resolveReplayTarget, runReplay, whoAmI } from './replay-run.js';
import { runTrace } from './trace-command.js';
import { UsageError } from './usage-error.js';

const USAGE = `Usage: npx pushrail <command> [options]

Commands:
  destinations  list, get, create, update, pause, resume, test, delete and apply destinations at
                runtime through the management API (npx pushrail destinations --help)
  audit         the audit trail of destination changes and replays (npx pushrail audit --help)
  console       the operator console in the browser, on 127.0.0.1:4000: live deliveries, health,
                trace, audit and a replay picker (npx pushrail console --help)
  health        health per destination: status, success rate, latency, backlog, DLQ, last error
                (npx pushrail health --help)
  replay        re-deliver a destination's DLQ, a time window, or single events (npx pushrail replay --help)
  trace         what happened to one event, per destination (npx pushrail trace <eventId> [--json])`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  if (command === 'destinations') {
    return runDestinations(rest, {
      io: { out: (line) => console.log(line), err: (line) => console.error(line) },
    });
  }
  if (command === 'audit') {
    return runAudit(rest, {
      io: { out: (line) => console.log(line), err: (line) => console.error(line) },
    });
  }
  if (command === 'console') {
    return runConsole(rest, {
      io: { out: (line) => console.log(line), err: (line) => console.error(line) },
    });
  }
  if (command === 'trace') {
    return runTrace(rest, {
      io: { out: (line) => console.log(line), err: (line) => console.error(line) },
    });
  }
  if (command === 'health') {
    return runHealth(rest, {
      io: { out: (line) => console.log(line), err: (line) => console.error(line) },
    });
  }
  if (command !== 'replay') {
    console.error(`unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  let parsed: ReplayCommand | 'help';
  try {
    parsed = parseReplayArgs(rest, (dir) => existsSync(join(dir, 'local.json')));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${error.message}\n\n${REPLAY_HELP}`);
      return 2;
    }
    throw error;
  }
  if (parsed === 'help') {
    console.log(REPLAY_HELP);
    return 0;
  }
  const target = await resolveReplayTarget(parsed.target);
  const request: ReplayRequest = { ...parsed.request, requestedBy: await whoAmI(parsed.target) };
  console.error(`Replaying on ${target.where} (${target.functionName}): ${JSON.stringify(parsed.request)}`);

  const total = await runReplay(target, request, ({ total: sum, last, invocation, continuing }) => {
    const note = invocation === 1 ? resumedNote(last, request) : undefined;
    if (note) console.error(`  ${note}`);
    if (continuing) console.error(`  … ${formatCounts(sum)} so far; continuing`);
  });
  if (!total) return 1;
  console.log(
    `${total.dryRun ? 'dry run: ' : ''}${formatCounts(total)}${total.complete ? '' : ' (stopped before the end: run again to continue)'}`,
  );
  const newer = newerDeadLettersNote(total);
  if (newer) console.error(newer);
  return total.failed > 0 ? 1 : 0;
}

/** Exits once stdout is flushed: on a pipe (a script reading the counts) a bare exit can cut it off. */
function exit(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

main(process.argv.slice(2)).then(exit, (error: unknown) => {
  console.error(`pushrail: ${(error as Error).message}`);
  exit(error instanceof UsageError ? 2 : 1);
});
