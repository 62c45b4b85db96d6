import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { ReplayRequest, ReplayResult } from '../lambdas/core/replay-request.js';
import { addResults } from './replay-command.js';
import type { TargetChoice } from './target.js';
import { UsageError } from './usage-error.js';

/**
 * How the CLI runs a replay (DESIGN.md "Replay"): a Lambda Invoke of the replay function, found in
 * the local runtime's local.json or the stack's outputs, invoked again while the run reports
 * `complete: false`. `npx pushrail replay` and the console's replay picker both run replays here.
 */

/** A run re-invokes the function while it reports `complete: false`, up to this many times. */
const MAX_INVOCATIONS = 1000;

export interface ReplayTarget {
  readonly lambda: LambdaClient;
  readonly functionName: string;
  /** For messages: "the local runtime at …", "stack Pushrail". */
  readonly where: string;
}

export async function resolveReplayTarget(target: TargetChoice): Promise<ReplayTarget> {
  if (target.kind === 'local') {
    const path = join(target.stateDir, 'local.json');
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
  const { stackName, region } = target;
  const cfn = new CloudFormationClient(region ? { region } : {});
  const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
  const functionName = out.Stacks?.[0]?.Outputs?.find(
    (o) => o.OutputKey === 'ReplayFunctionName',
  )?.OutputValue;
  if (!functionName)
    throw new Error(`stack ${stackName} has no ReplayFunctionName output; deploy the current version`);
  return { lambda: new LambdaClient(region ? { region } : {}), functionName, where: `stack ${stackName}` };
}

export async function invokeReplay(
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
export async function whoAmI(target: TargetChoice): Promise<string> {
  if (target.kind === 'local') return `local:${userInfo().username}`;
  try {
    const id = await new STSClient(target.region ? { region: target.region } : {}).send(
      new GetCallerIdentityCommand({}),
    );
    return id.Arn ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export interface ReplayProgress {
  /** The counts so far, summed over the invocations. */
  readonly total: ReplayResult;
  /** The invocation just answered. */
  readonly last: ReplayResult;
  readonly invocation: number;
  /** Whether the function is invoked again to continue the run. */
  readonly continuing: boolean;
}

/**
 * Runs one replay to its end: invokes the function again while the run is not complete (and not a
 * dry run, not at its limit, and still matching), calling `onProgress` after each invocation.
 */
export async function runReplay(
  target: ReplayTarget,
  request: ReplayRequest,
  onProgress: (progress: ReplayProgress) => void = () => undefined,
): Promise<ReplayResult | undefined> {
  let total: ReplayResult | undefined;
  for (let n = 1; n <= MAX_INVOCATIONS; n += 1) {
    const remaining = request.limit === undefined ? undefined : request.limit - (total?.matched ?? 0);
    const result = await invokeReplay(
      target.lambda,
      target.functionName,
      remaining === undefined ? request : { ...request, limit: remaining },
    );
    total = addResults(total, result);
    const done =
      result.complete ||
      (request.limit !== undefined && total.matched >= request.limit) ||
      // Nothing matched although the run is not complete: invoking again would not get further.
      result.matched === 0 ||
      // A dry run keeps no checkpoint: invoking again would count the same events from the start.
      request.dryRun;
    onProgress({ total, last: result, invocation: n, continuing: !done && n < MAX_INVOCATIONS });
    if (done) break;
  }
  return total;
}
