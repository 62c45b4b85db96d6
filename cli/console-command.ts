import { ManagementApi } from './api-client.js';
import { buildConsoleAssets } from './console/assets.js';
import { type ConsoleServer, startConsoleServer } from './console/server.js';

import { resolveReplayTarget, runReplay, whoAmI } from './replay-run.js';
import {
  type ApiCommandDeps,
  chooseTarget,
  localStateExists,
  parseCommandArgs,
  resolveApiTarget,
  type TargetChoice,
} from './target.js';
import { UsageError } from './usage-error.js';

export const CONSOLE_HELP = `Usage: npx pushrail console [--port N] [options]

Serves the operator console on http://127.0.0.1:<port>: live deliveries, health per destination,
trace search by eventId, the audit trail, and the replay picker (dead-letters over time for one
destination, a window chosen on them, the dry-run count, then the replay). The page calls this
process only; it forwards the page's read calls to the management API signed with your AWS
credentials (the SDK's default chain) or to the local runtime, and runs replays as
\`npx pushrail replay\` does. No credential reaches the browser, and nothing is deployed.

It listens on 127.0.0.1 only, and answers 403 to any request whose Host or Origin is not its own
(127.0.0.1:<port> or localhost:<port>).

Options:
  --port N              the port to listen on (default: 4000; 0 picks a free one)
  --stack NAME          the deployed stack NAME (default: Pushrail), found from its outputs
  --local               the local runtime (default when .pushrail/local.json exists and --stack is
                        not given)
  --state-dir DIR       where the local runtime's local.json is (default: .pushrail)
  --region REGION       AWS region of the deployed stack (default: from the environment)
  --help, -h            show this help

Runs until interrupted (Ctrl-C). Exit code 0 after an interrupt, 1 when it cannot start, 2 for bad
usage.`;

export interface ConsoleCommand {
  readonly port: number;
  readonly target: TargetChoice;
}

export function parseConsoleArgs(
  args: readonly string[],
  stateExists: (dir: string) => boolean,
): ConsoleCommand | 'help' {
  const { values } = parseCommandArgs(args, { port: { type: 'string' } }, false);
  if (values.help) return 'help';
  let port = 4000;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d{1,5}$/.test(values.port) || port > 65535)
      throw new UsageError('--port must be a port number from 0 to 65535');
  }
  return { port, target: chooseTarget(values, stateExists) };
}

export interface ConsoleDeps extends ApiCommandDeps {
  /** Resolves once the console should stop. @default SIGINT or SIGTERM */
  readonly until?: (server: ConsoleServer) => Promise<void>;
}

export async function runConsole(args: readonly string[], deps: ConsoleDeps): Promise<number> {
  const { io } = deps;
  let command: ConsoleCommand | 'help';
  try {
    command = parseConsoleArgs(args, deps.localStateExists ?? localStateExists);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${CONSOLE_HELP}`);
      return 2;
    }
    throw error;
  }
  if (command === 'help') {
    io.out(CONSOLE_HELP);
    return 0;
  }
  const apiTarget = await (deps.resolveTarget ?? resolveApiTarget)(command.target);
  const api = new ManagementApi(apiTarget, deps.fetch);
  const replayTarget = await resolveReplayTarget(command.target);
  const requestedBy = await whoAmI(command.target);
  const server = await startConsoleServer({
    api,
    replay: (request, onProgress) => runReplay(replayTarget, request, onProgress),
    requestedBy,
    assets: await buildConsoleAssets(),
    port: command.port,
    log: (line) => io.err(line),
  });
  io.out(`Pushrail console for ${apiTarget.where}: ${server.url}/ (Ctrl-C to stop)`);
  await (deps.until ?? untilSignal)(server);
  await server.close();
  return 0;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
