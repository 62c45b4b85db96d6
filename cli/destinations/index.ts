import { ManagementApi } from '../api-client.js';
import { type ApiCommandDeps, localStateExists, resolveApiTarget } from '../target.js';
import { UsageError } from '../usage-error.js';
import { runApply } from './apply.js';
import {
  DESTINATIONS_HELP,
  type DestinationsCommand,
  parseDestinationsArgs,
  type Subcommand,
} from './args.js';
import { runCreate } from './create.js';
import { runDelete } from './delete.js';
import { runGet } from './get.js';
import { runList } from './list.js';
import type { Io } from './output.js';
import { runPause } from './pause.js';
import { runResume } from './resume.js';
import { runTest } from './test-send.js';
import { runUpdate } from './update.js';

export { DESTINATIONS_HELP } from './args.js';

const COMMANDS: Record<
  Subcommand,
  (command: DestinationsCommand, api: ManagementApi, io: Io) => Promise<number>
> = {
  list: runList,
  get: runGet,
  create: runCreate,
  update: runUpdate,
  pause: runPause,
  resume: runResume,
  test: runTest,
  delete: runDelete,
  apply: (command, api, io) => runApply(command, api, io),
};

/** `npx pushrail destinations …`: answers the exit code (0 ok, 1 failure, 2 bad usage). */
export async function runDestinations(args: readonly string[], deps: ApiCommandDeps): Promise<number> {
  const { io } = deps;
  try {
    const parsed = parseDestinationsArgs(args, deps.localStateExists ?? localStateExists);
    if (parsed === 'help') {
      io.out(DESTINATIONS_HELP);
      return 0;
    }
    const target = await (deps.resolveTarget ?? resolveApiTarget)(parsed.target);
    return await COMMANDS[parsed.command](parsed, new ManagementApi(target, deps.fetch), io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${DESTINATIONS_HELP}`);
      return 2;
    }
    io.err(`pushrail: ${(error as Error).message}`);
    return 1;
  }
}
