import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { ReplayRequest, ReplayResult } from '../lambdas/core/replay-request.js';
import { runAudit } from './audit-command.js';
import { runDestinations } from './destinations/index.js';
import { runHealth } from './health-command.js';
import {
  addResults,
  formatCounts,
  newerDeadLettersNote,
  parseReplayArgs,
  REPLAY_HELP,
  type ReplayCommand,
  resumedNote,
  UsageError,
} from './replay-command.js';
import { runTrace } from './trace-command.js';

const USAGE = `Usage: npx pushrail <command> [options]

Commands:
  destinations  list, get, create, update, pause, resume, test, delete and apply destinations at
                runtime through the management API (npx pushrail destinations --help)
  audit         the audit trail of destination changes and replays (npx pushrail audit --help)
  health        health per destination: status, success rate, latency, backlog, DLQ, last error
                (npx pushrail health --help)
  replay        re-deliver a destination's DLQ, a time window, or single events (npx pushrail replay --help)
  trace         what happened to one event, per destination (npx pushrail trace <eventId> [--json])`;

/** A run re-invokes the function while it reports `complete: false`, up to this many times. */
const MAX_INVOCATIONS = 1000;

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
  const { lambda, functionName, where } = await resolveTarget(parsed);
  const request: ReplayRequest = { ...parsed.request, requestedBy: await whoAmI(parsed) };
  console.error(`Replaying on ${where} (${functionName}): ${JSON.stringify(parsed.request)}`);

  let total: ReplayResult | undefined;
  for (let n = 1; n <= MAX_INVOCATIONS; n += 1) {
    const remaining = request.limit === undefined ? undefined : request.limit - (total?.matched ?? 0);
    const result = await invoke(
      lambda,
      functionName,
      remaining === undefined ? request : { ...request, limit: remaining },
    );
    const note = total ? undefined : resumedNote(result, request);
    if (note) console.error(`  ${note}`);
    total = addResults(total, result);
    if (
      result.complete ||
      (request.limit !== undefined && total.matched >= request.limit) ||
      // Nothing matched although the run is not complete: invoking again would not get further.
      result.matched === 0 ||
      // A dry run keeps no checkpoint: invoking again would count the same events from the start.
      request.dryRun
    )
      break;
    console.error(`  … ${formatCounts(total)} so far; continuing`);
  }
  if (!total) return 1;
  console.log(
    `${total.dryRun ? 'dry run: ' : ''}${formatCounts(total)}${total.complete ? '' : ' (stopped before the end: run again to continue)'}`,
  );
  const newer = newerDeadLettersNote(total);
  if (newer) console.error(newer);
  return total.failed > 0 ? 1 : 0;
}

async function resolveTarget(
  command: ReplayCommand,
): Promise<{ lambda: LambdaClient; functionName: string; where: string }> {
  if (command.target.kind === 'local') {
    const path = join(command.target.stateDir, 'local.json');
    if (!existsSync(path))
      throw new Error(`${path} not found: start the local runtime with \`npm start\`, or pass --stack NAME`);
    const state = JSON.parse(readFileSync(path, 'utf8')) as {
      apiUrl?: string;
      region?: string;
      replayFunctionName?: string;
    };
    if (!state.apiUrl || !state.replayFunctionName)
      throw new Error(`${path} has no apiUrl/replayFunctionName: restart \`npm start\``);
    const lambda = new LambdaClient({
      endpoint: state.apiUrl,
      region: state.region ?? 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    return { lambda, functionName: state.replayFunctionName, where: `the local runtime at ${state.apiUrl}` };
  }
  const { stackName, region } = command.target;
  const cfn = new CloudFormationClient(region ? { region } : {});
  const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
  const functionName = out.Stacks?.[0]?.Outputs?.find(
    (o) => o.OutputKey === 'ReplayFunctionName',
  )?.OutputValue;
  if (!functionName)
    throw new Error(`stack ${stackName} has no ReplayFunctionName output; deploy the current version`);
  return { lambda: new LambdaClient(region ? { region } : {}), functionName, where: `stack ${stackName}` };
}

async function invoke(
  lambda: LambdaClient,
  functionName: string,
  request: ReplayRequest,
): Promise<ReplayResult> {
  const res = await lambda.send(
    new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(request)) }),
  );
  const text = Buffer.from(res.Payload ?? new Uint8Array()).toString('utf8');
  if (res.FunctionError) {
    let error: { errorType?: string; errorMessage?: string } = {};
    try {
      error = JSON.parse(text || '{}') as typeof error;
    } catch {
      // Not JSON (a runtime crash can answer plain text): shown as it is.
    }
    const message = `${error.errorType ?? 'Error'}: ${error.errorMessage ?? text}`;
    // The function refused the request before moving anything: bad usage, like a bad flag.
    if (error.errorType === 'ReplayRequestError') throw new UsageError(message);
    throw new Error(message);
  }
  return JSON.parse(text) as ReplayResult;
}

/** Who asked, for the audit trail: the AWS identity for a stack, the OS user locally. */
async function whoAmI(command: ReplayCommand): Promise<string> {
  if (command.target.kind === 'local') return `local:${userInfo().username}`;
  try {
    const id = await new STSClient(command.target.region ? { region: command.target.region } : {}).send(
      new GetCallerIdentityCommand({}),
    );
    return id.Arn ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Exits once stdout is flushed: on a pipe (a script reading the counts) a bare exit can cut it off. */
function exit(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

main(process.argv.slice(2)).then(exit, (error: unknown) => {
  console.error(`pushrail: ${(error as Error).message}`);
  exit(error instanceof UsageError ? 2 : 1);
});
