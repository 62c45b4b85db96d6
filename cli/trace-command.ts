import type { Trace, TraceDelivery } from '../lambdas/core/trace.js';
import { ManagementApi } from './api-client.js';
import { orApiError, printJson } from './destinations/output.js';
import {
  type ApiCommandDeps,
  chooseTarget,
  localStateExists,
  parseCommandArgs,
  resolveApiTarget,
  type TargetChoice,
} from './target.js';
import { UsageError } from './usage-error.js';

export const TRACE_HELP = `Usage: npx pushrail trace <eventId> [--json] [--payload]

What happened to one event (GET /v1/events/{eventId}): for every destination it was routed to, its
status (delivered, pending, retrying, dead-lettered, paused), where it landed (the S3 object, the
EventBridge entry id), when the next attempt is due, why it failed, and every attempt.

Options:
  --json                the API's answer as JSON
  --payload             include the event's payload (?include=payload)
  --stack NAME          the deployed stack NAME (default: Pushrail), found from its ApiUrl output
  --local               the local runtime (default when .pushrail/local.json exists and --stack is
                        not given)
  --state-dir DIR       where the local runtime's local.json is (default: .pushrail)
  --region REGION       AWS region of the deployed stack (default: from the environment)
  --help, -h            show this help

Exit code 0 when the event was found, 1 when it was not (or the API failed), 2 for bad usage.`;

export interface TraceCommand {
  readonly eventId: string;
  readonly json: boolean;
  readonly payload: boolean;
  readonly target: TargetChoice;
}

export function parseTraceArgs(
  args: readonly string[],
  stateExists: (dir: string) => boolean,
): TraceCommand | 'help' {
  const { values, positionals } = parseCommandArgs(
    args,
    { json: { type: 'boolean' }, payload: { type: 'boolean' } },
    true,
  );
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new UsageError('give exactly one eventId');
  return {
    eventId: positionals[0] as string,
    json: values.json === true,
    payload: values.payload === true,
    target: chooseTarget(values, stateExists),
  };
}

/** `npx pushrail trace <eventId>`: answers the exit code (0 found, 1 not found or failure, 2 bad usage). */
export async function runTrace(args: readonly string[], deps: ApiCommandDeps): Promise<number> {
  const { io } = deps;
  try {
    const command = parseTraceArgs(args, deps.localStateExists ?? localStateExists);
    if (command === 'help') {
      io.out(TRACE_HELP);
      return 0;
    }
    const api = new ManagementApi(await (deps.resolveTarget ?? resolveApiTarget)(command.target), deps.fetch);
    return await orApiError(io, async () => {
      const res = await api.send('GET', `/v1/events/${encodeURIComponent(command.eventId)}`, {
        query: { include: command.payload ? 'payload' : undefined },
      });
      const trace = res.body as Trace;
      if (command.json) printJson(io, trace);
      else for (const line of formatTrace(trace)) io.out(line);
      return 0;
    });
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${TRACE_HELP}`);
      return 2;
    }
    io.err(`pushrail: ${(error as Error).message}`);
    return 1;
  }
}

/** The human form: the event, then a short timeline per destination. */
export function formatTrace(trace: Trace): string[] {
  const lines = [
    `${trace.eventId}  ${trace.eventType}  customer ${trace.customerExternalId}`,
    `  occurred ${trace.occurredAt}, received ${trace.receivedAt}, key ${trace.idempotencyKey}` +
      (trace.correlationId ? `, correlation ${trace.correlationId}` : ''),
  ];
  if (trace.deliveries.length === 0) lines.push('  routed to no destination');
  for (const d of trace.deliveries) {
    lines.push('', `${d.destinationId} (${d.type}): ${headline(d)}`);
    for (const a of d.attempts) {
      const parts = [
        a.outcome,
        a.latencyMs !== undefined ? `${a.latencyMs} ms` : undefined,
        a.errorCode,
        a.target,
      ].filter(Boolean);
      lines.push(`  ${a.at}  ${parts.join('  ')}`);
      if (a.reason) lines.push(`      ${a.reason}`);
    }
    if (d.attempts.length === 0) lines.push('  no attempt yet');
  }
  if (trace.payload !== undefined) lines.push('', `payload: ${JSON.stringify(trace.payload)}`);
  return lines;
}

function headline(d: TraceDelivery): string {
  switch (d.status) {
    case 'delivered':
      return `delivered ${d.deliveredAt ?? ''}${d.target ? ` to ${d.target}` : ''}`;
    case 'retrying':
      return `retrying${d.nextAttemptAt ? `, next attempt ${d.nextAttemptAt}` : ''}${d.reason ? ` (${d.reason})` : ''}`;
    case 'dead-lettered':
      return `dead-lettered${d.reason ? `: ${d.reason}` : ''} (npx pushrail replay --destination ${d.destinationId} --dlq)`;
    case 'paused':
      return 'paused: waiting in the queue until the destination is resumed';
    default:
      return 'pending: routed, no attempt yet';
  }
}
