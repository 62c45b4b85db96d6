import { chooseTarget, parseCommandArgs, type TargetChoice } from '../target.js';
import { UsageError } from '../usage-error.js';

export const DESTINATIONS_HELP = `Usage: npx pushrail destinations <command> [options]

Manages destinations at runtime through the management API (signed with SigV4 with your AWS
credentials from the default chain: environment, ~/.aws profiles, SSO, instance role).

Commands:
  list [--customer ID] [--json]        every destination (or one customer's) with status and version
  get ID [--json]                      one destination, its status, version and queues
  create -f FILE [--json]              create the destination in FILE (one destination, JSON)
  update -f FILE [--if-match VERSION] [--json]
                                       replace the destination in FILE (same id and type)
  pause ID                             stop delivering; events keep queueing
  resume ID                            deliver again, the backlog first
  test ID [--json]                     send one synthetic pushrail.test event through the real delivery
                                       path and show the attempt
  delete ID [--force]                  stop routing, drain the queue, then remove it
  apply -f FILE [--prune] [--dry-run]  make the destinations match a pushrail.config.json: create the
                                       missing, update the changed, show the diff

Options:
  -f, --file FILE       the JSON file to send (create, update) or to apply (apply)
  --customer ID         list: only this customerExternalId's destinations
  --json                print the API's answer as JSON (every command but apply)
  --if-match VERSION    update: only if the destination is still at VERSION (else 412, nothing changed)
  --force               delete: move what is left in the queue to the DLQ instead of waiting for it
  --prune               apply: also delete the destinations that are not in the file
  --dry-run             apply: print the diff only; change nothing
  --stack NAME          talk to the deployed stack NAME (default: Pushrail), found from its ApiUrl output
  --local               talk to the local runtime (default when .pushrail/local.json exists and
                        --stack is not given)
  --state-dir DIR       where the local runtime's local.json is (default: .pushrail)
  --region REGION       AWS region of the deployed stack (default: from the environment)
  --help, -h            show this help

Credentials are never printed: the API masks them, and files are sent, not echoed.
Exit code 0 when it worked, 1 when the API refused or failed (its error code, message and field
details are printed), 2 for bad usage (including an invalid config file for apply).`;

export const SUBCOMMANDS = [
  'list',
  'get',
  'create',
  'update',
  'pause',
  'resume',
  'test',
  'delete',
  'apply',
] as const;
export type Subcommand = (typeof SUBCOMMANDS)[number];

export interface DestinationsCommand {
  readonly command: Subcommand;
  readonly target: TargetChoice;
  /** The destination id (get, pause, resume, test, delete). */
  readonly id?: string;
  readonly file?: string;
  readonly customer?: string;
  readonly ifMatch?: number;
  readonly json: boolean;
  readonly force: boolean;
  readonly prune: boolean;
  readonly dryRun: boolean;
}

/** Which flags each command takes, beyond the target flags every command takes. */
const FLAGS: Record<Subcommand, readonly string[]> = {
  list: ['customer', 'json'],
  get: ['json'],
  create: ['file', 'json'],
  update: ['file', 'if-match', 'json'],
  pause: ['json'],
  resume: ['json'],
  test: ['json'],
  delete: ['force', 'json'],
  apply: ['file', 'prune', 'dry-run'],
};
const TAKES_ID: ReadonlySet<Subcommand> = new Set(['get', 'pause', 'resume', 'test', 'delete']);
const TARGET_FLAGS = ['stack', 'local', 'state-dir', 'region', 'help'];

/** Parses `destinations …` arguments; UsageError (exit 2) for anything the command does not take. */
export function parseDestinationsArgs(
  args: readonly string[],
  localStateExists: (dir: string) => boolean,
): DestinationsCommand | 'help' {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      file: { type: 'string', short: 'f' },
      customer: { type: 'string' },
      json: { type: 'boolean' },
      'if-match': { type: 'string' },
      force: { type: 'boolean' },
      prune: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
    },
    true,
  );
  if (values.help) return 'help';
  const [name, ...rest] = positionals;
  if (!name) throw new UsageError('a command is required');
  if (!(SUBCOMMANDS as readonly string[]).includes(name)) throw new UsageError(`unknown command "${name}"`);
  const command = name as Subcommand;

  const allowed = new Set([...FLAGS[command], ...TARGET_FLAGS]);
  for (const [flag, value] of Object.entries(values))
    if (value !== undefined && !allowed.has(flag)) throw new UsageError(`${command} does not take --${flag}`);

  let id: string | undefined;
  if (TAKES_ID.has(command)) {
    if (rest.length !== 1) throw new UsageError(`${command} takes one destination id: ${command} ID`);
    id = rest[0];
  } else if (rest.length > 0) {
    throw new UsageError(`${command} takes no positional argument (got "${rest.join(' ')}")`);
  }
  if (FLAGS[command].includes('file') && !values.file) throw new UsageError(`${command} needs -f FILE`);

  let ifMatch: number | undefined;
  if (values['if-match'] !== undefined) {
    // An ETag as printed (`"3"`) or the bare version.
    ifMatch = Number(values['if-match'].replace(/^W\//, '').replace(/^"|"$/g, ''));
    if (!Number.isInteger(ifMatch) || ifMatch < 1)
      throw new UsageError('--if-match must be a version number (the ETag of get or list)');
  }
  if (values.stack !== undefined && values.local)
    throw new UsageError('give either --stack or --local, not both');

  return {
    command,
    target: chooseTarget(values, localStateExists),
    ...(id !== undefined ? { id } : {}),
    ...(values.file ? { file: values.file } : {}),
    ...(values.customer ? { customer: values.customer } : {}),
    ...(ifMatch !== undefined ? { ifMatch } : {}),
    json: values.json === true,
    force: values.force === true,
    prune: values.prune === true,
    dryRun: values['dry-run'] === true,
  };
}
