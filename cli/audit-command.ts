import { ManagementApi } from './api-client.js';
import { orApiError, redact, table, text } from './destinations/output.js';
import {
  type ApiCommandDeps,
  chooseTarget,
  localStateExists,
  parseCommandArgs,
  resolveApiTarget,
  type TargetChoice,
} from './target.js';
import { UsageError } from './usage-error.js';

export const AUDIT_HELP = `Usage: npx pushrail audit [filters] [--json] [--limit N]

The audit trail (GET /v1/audit), newest first: every change to a destination (created, updated,
credentials-rotated, paused, resumed, tested, deleted) and every replay (started, finished), with
who made it, the version, the changed fields (secrets as "(changed)") and the details.

Filters (all optional, combined):
  --destination ID      one destination
  --customer ID         one customerExternalId
  --action ACTION       one action, e.g. destination.updated or replay.finished
  --from T, --to T      entries in [T, T] (ISO-8601 with an offset or Z, e.g. 2026-05-26T14:00:00Z)

Options:
  --json                NDJSON: one entry per line, every page (an export; combine with --limit)
  --limit N             stop after N entries (default: 50 in the table, all with --json)
  --stack NAME          the deployed stack NAME (default: Pushrail), found from its ApiUrl output
  --local               the local runtime (default when .pushrail/local.json exists and --stack is
                        not given)
  --state-dir DIR       where the local runtime's local.json is (default: .pushrail)
  --region REGION       AWS region of the deployed stack (default: from the environment)
  --help, -h            show this help

Replay entries name who asked as the replay request said (npx pushrail replay sends your AWS
identity): the replay function cannot see its caller, so that "who" is self-reported.
Exit code 0 when it worked, 1 when the API refused or failed, 2 for bad usage.`;

/** Entries shown in the table when no --limit is given. */
const TABLE_DEFAULT_LIMIT = 50;

export interface AuditCommand {
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly json: boolean;
  readonly limit?: number;
  readonly target: TargetChoice;
}

export function parseAuditArgs(
  args: readonly string[],
  stateExists: (dir: string) => boolean,
): AuditCommand | 'help' {
  const { values } = parseCommandArgs(
    args,
    {
      destination: { type: 'string' },
      customer: { type: 'string' },
      action: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      json: { type: 'boolean' },
      limit: { type: 'string' },
    },
    false,
  );
  if (values.help) return 'help';
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new UsageError('--limit must be a whole number of at least 1');
  }
  for (const flag of ['from', 'to'] as const) {
    const value = values[flag];
    if (value !== undefined && (Number.isNaN(Date.parse(value)) || !/(Z|[+-]\d{2}:\d{2})$/i.test(value)))
      throw new UsageError(`--${flag} must be an ISO-8601 time with an offset or Z`);
  }
  return {
    query: {
      destinationId: values.destination,
      customerExternalId: values.customer,
      action: values.action,
      from: values.from,
      to: values.to,
    },
    json: values.json === true,
    ...(limit ? { limit } : {}),
    target: chooseTarget(values, stateExists),
  };
}

interface Entry {
  readonly at?: unknown;
  readonly who?: unknown;
  readonly action?: unknown;
  readonly destinationId?: unknown;
  readonly version?: unknown;
  readonly changes?: readonly { field?: unknown; from?: unknown; to?: unknown }[];
  readonly details?: Record<string, unknown>;
}

/** `npx pushrail audit …`: answers the exit code (0 ok, 1 failure, 2 bad usage). */
export async function runAudit(args: readonly string[], deps: ApiCommandDeps): Promise<number> {
  const { io } = deps;
  try {
    const command = parseAuditArgs(args, deps.localStateExists ?? localStateExists);
    if (command === 'help') {
      io.out(AUDIT_HELP);
      return 0;
    }
    const api = new ManagementApi(await (deps.resolveTarget ?? resolveApiTarget)(command.target), deps.fetch);
    const limit = command.limit ?? (command.json ? Number.POSITIVE_INFINITY : TABLE_DEFAULT_LIMIT);
    return await orApiError(io, async () => {
      const entries: Entry[] = [];
      let cursor: string | undefined;
      do {
        const res = await api.send('GET', '/v1/audit', { query: { ...command.query, cursor } });
        const page = (res.body ?? {}) as { entries?: Entry[]; cursor?: string };
        for (const entry of page.entries ?? []) {
          if (entries.length >= limit) break;
          entries.push(entry);
          // Streamed: an export of a long trail starts at once and needs no memory for the rest.
          if (command.json) io.out(JSON.stringify(redact(entry)));
        }
        cursor = page.cursor;
      } while (cursor && entries.length < limit);
      if (command.json) return 0;
      if (entries.length === 0) {
        io.out('no audit entries');
        return 0;
      }
      const rows = entries.map((e) => [
        text(e.at),
        text(e.action),
        text(e.destinationId),
        text(e.who),
        summary(e),
      ]);
      for (const line of table([['AT', 'ACTION', 'DESTINATION', 'WHO', 'WHAT'], ...rows])) io.out(line);
      if (cursor) io.out(`(more entries: --limit N to see more, or --json for all)`);
      return 0;
    });
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${AUDIT_HELP}`);
      return 2;
    }
    io.err(`pushrail: ${(error as Error).message}`);
    return 1;
  }
}

/** One line of what an entry changed or did: the fields, or the details that matter. */
function summary(entry: Entry): string {
  const parts: string[] = [];
  if (entry.version !== undefined) parts.push(`v${text(entry.version)}`);
  const changes = entry.changes ?? [];
  if (changes.length > 0) {
    const shown = changes.slice(0, 3).map((c) => `${text(c.field)}: ${show(c.from)} → ${show(c.to)}`);
    parts.push(shown.join(', ') + (changes.length > 3 ? ` (+${changes.length - 3} more)` : ''));
  }
  const d = (redact(entry.details ?? {}) ?? {}) as Record<string, unknown>;
  if (d.outcome !== undefined) parts.push(`${text(d.outcome)}${d.errorCode ? ` ${text(d.errorCode)}` : ''}`);
  const counts = d.counts as Record<string, unknown> | undefined;
  if (counts)
    parts.push(
      `matched ${text(counts.matched)}, replayed ${text(counts.replayed)}, skipped ${text(counts.skipped)}, failed ${text(counts.failed)}`,
    );
  if (d.selection && !counts) parts.push(`selection ${JSON.stringify(d.selection)}`);
  if (d.force === true) parts.push('force');
  return parts.join('; ');
}

function show(value: unknown): string {
  if (value === null || value === undefined) return '-';
  const json = typeof value === 'string' ? value : JSON.stringify(value);
  return json.length > 40 ? `${json.slice(0, 39)}…` : json;
}
