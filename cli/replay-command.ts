import { toFieldIssues } from '../lambdas/core/issues.js';
import {
  type ReplayRequest,
  ReplayRequestSchema,
  type ReplayResult,
} from '../lambdas/core/replay-request.js';
import { parseCommandArgs } from './target.js';
import { UsageError } from './usage-error.js';

export const REPLAY_HELP = `Usage: npx pushrail replay --destination ID (--dlq | --from T --to T | --event ID ...) [options]

Re-delivers events to one destination through the same path as their first delivery. For S3, an event
already written rewrites its part byte for byte: replaying never adds rows.

Selection (one of):
  --dlq                 move the destination's dead-letter queue back to its queue (all messages, or
                        only those matching --from/--to or --event when given)
  --from T --to T       without --dlq: re-send stored events received in [T, T) that were routed to
                        the destination (ISO-8601, e.g. 2026-05-26T14:00:00Z)
  --event ID            without --dlq: re-send these stored events; repeat the flag for several ids

Options:
  --destination ID      the destination id from pushrail.config.json (required)
  --on FIELD            with --dlq and a window: receivedAt (default) or occurredAt
  --dry-run             count what would be replayed; move nothing
  --limit N             stop after N matching events (a later run with the same selection continues)
  --stack NAME          replay on the deployed stack NAME (default: Pushrail), found from its outputs
  --local               replay on the local runtime (default when .pushrail/local.json exists and
                        --stack is not given)
  --state-dir DIR       where the local runtime's local.json is (default: .pushrail)
  --region REGION       AWS region of the deployed stack (default: from the environment)
  --help, -h            show this help

Prints progress after each invocation of the replay function and, at the end, the counts:
matched, replayed, skipped, failed. When it continues a run stopped earlier, it says when that run
started: a DLQ run replays only what was dead-lettered before then, and says so when newer dead
letters are left for the next run. One invocation at a time replays a selection: while another runs,
the function refuses, naming who started it and when. Exit code 0 when nothing failed, 1 otherwise,
2 for bad usage (including a request the replay function refuses, such as an unknown destination).

Equivalent without this tool (AWS CLI v2; invoke again while the answer says "complete": false):
  aws lambda invoke --function-name <ReplayFunctionName output> --cli-binary-format raw-in-base64-out \\
    --cli-read-timeout 900 --payload '{"destinationId":"ID","source":"dlq"}' out.json
Locally, add --endpoint-url <apiUrl of .pushrail/local.json> and use the function <prefix>-replay
(pushrail-local-replay by default).`;

export interface ReplayCommand {
  readonly request: ReplayRequest;
  readonly target:
    | { readonly kind: 'local'; readonly stateDir: string }
    | { readonly kind: 'stack'; readonly stackName: string; readonly region?: string };
}

/** Parses `replay` arguments into a replay request (validated again, with zod, by the function). */
export function parseReplayArgs(
  args: readonly string[],
  localStateExists: (dir: string) => boolean,
): ReplayCommand | 'help' {
  const { values } = parseCommandArgs(
    args,
    {
      destination: { type: 'string' },
      dlq: { type: 'boolean' },
      from: { type: 'string' },
      to: { type: 'string' },
      on: { type: 'string' },
      event: { type: 'string', multiple: true },
      'dry-run': { type: 'boolean' },
      limit: { type: 'string' },
    },
    false,
  );
  if (values.help) return 'help';
  if (!values.destination) throw new UsageError('--destination is required');
  const events = values.event ?? [];
  const window = values.from !== undefined || values.to !== undefined;
  if (!values.dlq && !window && events.length === 0)
    throw new UsageError('choose what to replay: --dlq, --from/--to, or --event');
  if (window && events.length > 0) throw new UsageError('give either --from/--to or --event, not both');
  if (values.on && !(values.on === 'receivedAt' || values.on === 'occurredAt'))
    throw new UsageError('--on must be receivedAt or occurredAt');
  if (values.on && !values.dlq)
    throw new UsageError('--on applies to --dlq only (stored events are selected by receivedAt)');
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new UsageError('--limit must be a whole number of at least 1');
  }
  const input: ReplayRequest = {
    destinationId: values.destination,
    source: values.dlq ? 'dlq' : 'events',
    ...(values.from ? { from: values.from } : {}),
    ...(values.to ? { to: values.to } : {}),
    ...(values.on ? { on: values.on as 'receivedAt' | 'occurredAt' } : {}),
    ...(events.length > 0 ? { eventIds: events } : {}),
    ...(limit ? { limit } : {}),
    ...(values['dry-run'] ? { dryRun: true } : {}),
  };
  // The function validates again; checking here turns a typo into a usage error before any AWS call.
  const checked = ReplayRequestSchema.safeParse(input);
  if (!checked.success) {
    throw new UsageError(
      toFieldIssues(checked.error)
        .map((i) => `${flagOf(i.field)}: ${i.message}`)
        .join('\n'),
    );
  }
  const request = checked.data;
  const stateDir = values['state-dir'] ?? '.pushrail';
  const local = values.local === true || (values.stack === undefined && localStateExists(stateDir));
  return {
    request,
    target: local
      ? { kind: 'local', stateDir }
      : {
          kind: 'stack',
          stackName: values.stack ?? 'Pushrail',
          ...(values.region ? { region: values.region } : {}),
        },
  };
}

/** The flag a request field comes from, for usage errors (`eventIds[2]` → `--event`). */
function flagOf(field: string): string {
  const name = field.replace(/\[\d+\]$/, '');
  const flags: Record<string, string> = {
    destinationId: '--destination',
    source: '--dlq',
    eventIds: '--event',
    dryRun: '--dry-run',
  };
  return flags[name] ?? `--${name}`;
}

/**
 * Sums the counts of successive invocations of one replay. `resumed` stays the first invocation's (did
 * the command continue an earlier run?); `newerThanRun` is the last one's, as each invocation of a DLQ
 * run looks at the newer dead letters again.
 */
export function addResults(a: ReplayResult | undefined, b: ReplayResult): ReplayResult {
  if (!a) return b;
  return {
    ...b,
    resumed: a.resumed,
    matched: a.matched + b.matched,
    replayed: a.replayed + b.replayed,
    skipped: a.skipped + b.skipped,
    failed: a.failed + b.failed,
  };
}

export function formatCounts(r: Pick<ReplayResult, 'matched' | 'replayed' | 'skipped' | 'failed'>): string {
  return `matched ${r.matched}, replayed ${r.replayed}, skipped ${r.skipped}, failed ${r.failed}`;
}

/**
 * Said after the first invocation when it continued an earlier run (stopped by --limit or time), whose
 * DLQ cut-off may be long past: otherwise the dead letters it leaves would go unnoticed.
 */
export function resumedNote(first: ReplayResult, request: ReplayRequest): string | undefined {
  if (!first.resumed) return undefined;
  return request.source === 'dlq'
    ? `continuing the run started at ${first.startedAt}: messages dead-lettered after that are left for the next run`
    : `continuing the run started at ${first.startedAt}`;
}

/** Said at the end of a finished DLQ run that left selected dead letters newer than its cut-off. */
export function newerDeadLettersNote(total: ReplayResult): string | undefined {
  const newer = total.newerThanRun ?? 0;
  if (!total.complete || total.dryRun || newer === 0) return undefined;
  return `${newer} matching message(s) were dead-lettered after this run started (${total.startedAt}) and are still in the DLQ: run the same command again to replay them`;
}
