import { ManagementApi } from './api-client.js';
import { orApiError, printJson, table, text } from './destinations/output.js';
import {
  type ApiCommandDeps,
  chooseTarget,
  localStateExists,
  parseCommandArgs,
  resolveApiTarget,
  type TargetChoice,
} from './target.js';
import { UsageError } from './usage-error.js';

export const HEALTH_HELP = `Usage: npx pushrail health [--destination ID] [--customer ID] [--json]

Health per destination (GET /v1/health, or GET /v1/destinations/{id}/health): the status (healthy,
degraded, failing or paused, from the rules table in the README), since when, the last 15 minutes'
delivered and failed events, success rate, p50/p95 latency, the backlog (queued, in flight, age of
the oldest message) and DLQ depth, and the last error. Reading health also announces a status
change, once, on the vendor's default event bus.

Options:
  --destination ID      one destination (404 if it does not exist)
  --customer ID         the destinations of one customerExternalId
  --json                the API's answer as JSON, for scripts
  --stack NAME          the deployed stack NAME (default: Pushrail), found from its ApiUrl output
  --local               the local runtime (default when .pushrail/local.json exists and --stack is
                        not given)
  --state-dir DIR       where the local runtime's local.json is (default: .pushrail)
  --region REGION       AWS region of the deployed stack (default: from the environment)
  --help, -h            show this help

Exit code 0 when the API answered (whatever the statuses), 1 when it refused or failed, 2 for bad
usage.`;

export interface HealthCommand {
  readonly destinationId?: string;
  readonly customerExternalId?: string;
  readonly json: boolean;
  readonly target: TargetChoice;
}

export function parseHealthArgs(
  args: readonly string[],
  stateExists: (dir: string) => boolean,
): HealthCommand | 'help' {
  const { values } = parseCommandArgs(
    args,
    {
      destination: { type: 'string' },
      customer: { type: 'string' },
      json: { type: 'boolean' },
    },
    false,
  );
  if (values.help) return 'help';
  if (values.destination !== undefined && values.customer !== undefined)
    throw new UsageError('--destination and --customer cannot be combined');
  return {
    ...(values.destination !== undefined ? { destinationId: values.destination } : {}),
    ...(values.customer !== undefined ? { customerExternalId: values.customer } : {}),
    json: values.json === true,
    target: chooseTarget(values, stateExists),
  };
}

/** One destination's health as the API answers it (DESIGN.md "Trace, health, audit"). */
interface Health {
  readonly destinationId?: string;
  readonly type?: string;
  readonly status?: string;
  readonly since?: string;
  readonly delivered?: number;
  readonly failed?: number;
  readonly successRate?: number | null;
  readonly latencyMs?: { readonly p50?: number | null; readonly p95?: number | null };
  readonly backlog?: {
    readonly queued?: number;
    readonly inFlight?: number;
    readonly oldestAgeSeconds?: number | null;
  };
  readonly dlqDepth?: number;
  readonly lastError?: { readonly at?: string; readonly errorCode?: string; readonly reason?: string };
}

/** `npx pushrail health …`: answers the exit code (0 ok, 1 failure, 2 bad usage). */
export async function runHealth(args: readonly string[], deps: ApiCommandDeps): Promise<number> {
  const { io } = deps;
  try {
    const command = parseHealthArgs(args, deps.localStateExists ?? localStateExists);
    if (command === 'help') {
      io.out(HEALTH_HELP);
      return 0;
    }
    const api = new ManagementApi(await (deps.resolveTarget ?? resolveApiTarget)(command.target), deps.fetch);
    return await orApiError(io, async () => {
      const res = command.destinationId
        ? await api.send('GET', `/v1/destinations/${encodeURIComponent(command.destinationId)}/health`)
        : await api.send('GET', '/v1/health', { query: { customerExternalId: command.customerExternalId } });
      if (command.json) {
        printJson(io, res.body);
        return 0;
      }
      const all = command.destinationId
        ? [res.body as Health]
        : (((res.body ?? {}) as { destinations?: Health[] }).destinations ?? []);
      if (all.length === 0) {
        io.out('no destinations');
        return 0;
      }
      const rows = all.map((h) => [
        text(h.destinationId),
        text(h.type),
        statusCell(h.status),
        text(h.since),
        `${text(h.delivered)}/${text(h.failed)}`,
        h.successRate === null || h.successRate === undefined ? '-' : `${(h.successRate * 100).toFixed(1)}%`,
        `${text(h.latencyMs?.p50)}/${text(h.latencyMs?.p95)}`,
        `${text(h.backlog?.queued)}/${text(h.backlog?.inFlight)}`,
        h.backlog?.oldestAgeSeconds === null || h.backlog?.oldestAgeSeconds === undefined
          ? '-'
          : `${h.backlog.oldestAgeSeconds}s`,
        text(h.dlqDepth),
      ]);
      for (const line of table([
        [
          'DESTINATION',
          'TYPE',
          'STATUS',
          'SINCE',
          'OK/FAILED',
          'SUCCESS',
          'P50/P95 MS',
          'QUEUED/IN FLIGHT',
          'OLDEST',
          'DLQ',
        ],
        ...rows,
      ]))
        io.out(line);
      // The last error of each destination that has one, under the table: reasons are long.
      for (const h of all)
        if (h.lastError)
          io.out(
            `${text(h.destinationId)}: last error ${text(h.lastError.errorCode)} at ${text(h.lastError.at)}: ${text(h.lastError.reason)}`,
          );
      return 0;
    });
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${HEALTH_HELP}`);
      return 2;
    }
    io.err(`pushrail: ${(error as Error).message}`);
    return 1;
  }
}

/** Upper case for anything not healthy, so a failing row stands out in a plain terminal. */
function statusCell(status: string | undefined): string {
  if (status === undefined) return '-';
  return status === 'healthy' ? status : status.toUpperCase();
}
