import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { ApiTarget, Credentials } from './api-client.js';
import type { Io } from './destinations/output.js';
import { UsageError } from './usage-error.js';

/** Which Pushrail a command talks to: the local runtime, or a deployed stack (as `replay` chooses). */
export type TargetChoice =
  | { readonly kind: 'local'; readonly stateDir: string }
  | { readonly kind: 'stack'; readonly stackName: string; readonly region?: string };

export interface TargetFlags {
  readonly stack?: string;
  readonly local?: boolean;
  readonly 'state-dir'?: string;
  readonly region?: string;
}

/**
 * What a command that talks to the API takes besides its arguments: where it prints, and (for tests)
 * how it finds the local runtime, resolves the target and calls it.
 */
export interface ApiCommandDeps {
  readonly io: Io;
  readonly localStateExists?: (dir: string) => boolean;
  readonly resolveTarget?: (choice: TargetChoice) => Promise<ApiTarget>;
  readonly fetch?: typeof fetch;
}

/** The flags of every command that talks to the API: which Pushrail (`chooseTarget`), and --help. */
export const TARGET_OPTIONS = {
  stack: { type: 'string' },
  local: { type: 'boolean' },
  'state-dir': { type: 'string' },
  region: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/**
 * node:util `parseArgs`, strict, with a command's own options beside TARGET_OPTIONS; a flag it does not
 * know, or a value of the wrong type, is a UsageError with parseArgs' message (exit code 2).
 */
export function parseCommandArgs<
  const O extends NonNullable<ParseArgsConfig['options']>,
  const P extends boolean,
>(args: readonly string[], options: O, allowPositionals: P) {
  try {
    return parseArgs({
      args: [...args],
      strict: true,
      allowPositionals,
      options: { ...options, ...TARGET_OPTIONS },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The local runtime when asked, or when its local.json exists and no --stack was given; else a stack. */
export function chooseTarget(flags: TargetFlags, localStateExists: (dir: string) => boolean): TargetChoice {
  const stateDir = flags['state-dir'] ?? '.pushrail';
  const local = flags.local === true || (flags.stack === undefined && localStateExists(stateDir));
  if (local) return { kind: 'local', stateDir };
  return {
    kind: 'stack',
    stackName: flags.stack ?? 'Pushrail',
    ...(flags.region ? { region: flags.region } : {}),
  };
}

export const localStateExists = (dir: string): boolean => existsSync(join(dir, 'local.json'));

/**
 * The local runtime accepts any SigV4 credentials (DESIGN.md "Local runtime"; its `who` is the key
 * id): the developer's own when the default chain finds some, else fixed local ones, so a fresh
 * clone without AWS credentials can still manage its local destinations.
 */
function localCredentials(): Credentials {
  const chain = fromNodeProviderChain();
  return async () => {
    try {
      return await chain();
    } catch {
      return { accessKeyId: 'local', secretAccessKey: 'local' };
    }
  };
}

/** Resolves the API's base URL, signing region and credentials for a target. */
export async function resolveApiTarget(
  choice: TargetChoice,
  deps: { readonly cloudFormation?: (region?: string) => CloudFormationClient } = {},
): Promise<ApiTarget> {
  if (choice.kind === 'local') {
    const path = join(choice.stateDir, 'local.json');
    if (!existsSync(path))
      throw new Error(`${path} not found: start the local runtime with \`npm start\`, or pass --stack NAME`);
    const state = JSON.parse(readFileSync(path, 'utf8')) as { apiUrl?: string; region?: string };
    if (!state.apiUrl) throw new Error(`${path} has no apiUrl: restart \`npm start\``);
    return {
      baseUrl: state.apiUrl,
      region: state.region ?? 'us-east-1',
      credentials: localCredentials(),
      where: `the local runtime at ${state.apiUrl}`,
    };
  }
  const cfn = (deps.cloudFormation ?? ((region) => new CloudFormationClient(region ? { region } : {})))(
    choice.region,
  );
  const out = await cfn.send(new DescribeStacksCommand({ StackName: choice.stackName }));
  const apiUrl = out.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'ApiUrl')?.OutputValue;
  if (!apiUrl) throw new Error(`stack ${choice.stackName} has no ApiUrl output; deploy the current version`);
  // API Gateway checks the signature against its own region, which its URL names.
  const region =
    /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(apiUrl)?.[1] ?? (await cfn.config.region());
  return {
    baseUrl: apiUrl,
    region,
    credentials: fromNodeProviderChain(),
    where: `stack ${choice.stackName}`,
  };
}
