import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../lambdas/core/config.js';
import { INGEST_ENV, REPLAY_ENV } from '../../lambdas/core/function-env.js';
import { routingTable } from '../../lambdas/core/routing.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CDK = join(REPO_ROOT, 'node_modules', '.bin', 'cdk');
const EXAMPLE_CONFIG = join(REPO_ROOT, 'pushrail.config.json');
const run = promisify(execFile);

interface SynthResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `npx cdk synth` as a user runs it: the real CLI and bin/pushrail.ts, with no AWS credentials at all. */
async function cdkSynth(outdir: string, context: Record<string, string> = {}): Promise<SynthResult> {
  const args = ['synth', '--quiet', '--no-notices', '--output', outdir];
  for (const [key, value] of Object.entries(context)) args.push('--context', `${key}=${value}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: '',
    AWS_SECRET_ACCESS_KEY: '',
    AWS_SESSION_TOKEN: '',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
  };
  delete env.AWS_PROFILE;
  try {
    const { stdout, stderr } = await run(CDK, args, { cwd: REPO_ROOT, env, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

// The one infra test that really bundles (esbuild, locally, no Docker): the other files skip bundling.
describe('npx cdk synth with the example config', () => {
  let dir: string;
  let outdir: string;
  let result: SynthResult;
  let assetDir: string;
  let bundle: string;
  /** Every function of the stack: service name, asset directory and environment. */
  let functions: { service: string; assetDir: string; variables: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pushrail-synth-'));
    outdir = join(dir, 'cdk.out');
    result = await cdkSynth(outdir);
    if (result.code !== 0) return;
    const template = JSON.parse(readFileSync(join(outdir, 'Pushrail.template.json'), 'utf8')) as {
      Resources: Record<
        string,
        {
          Type: string;
          Metadata?: Record<string, string>;
          Properties: { Environment?: { Variables?: Record<string, unknown> } };
        }
      >;
    };
    functions = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function')
      .map((r) => ({
        service: String(r.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME),
        assetDir: join(outdir, r.Metadata?.['aws:asset:path'] ?? 'no-asset-path'),
        variables: r.Properties.Environment?.Variables ?? {},
      }));
    assetDir = functions.find((f) => f.service === 'pushrail-ingest')?.assetDir ?? 'no-ingest-function';
    bundle = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('succeeds offline without credentials, and runs the AwsSolutions checks with no finding', () => {
    expect(result.stderr).not.toMatch(/AwsSolutions-\w+/);
    expect(result.code, result.stderr).toBe(0);
    expect(readdirSync(outdir).some((f) => /^AwsSolutions-.*NagReport\.csv$/.test(f))).toBe(true);
  });

  it('bundles the ingest function into one ESM file with its source map and a require shim', () => {
    expect(existsSync(join(assetDir, 'index.mjs.map'))).toBe(true);
    expect(bundle.startsWith("import { createRequire as __pushrailCreateRequire } from 'node:module';")).toBe(
      true,
    );
    expect(/sourceMappingURL=index\.mjs\.map\s*$/.test(bundle)).toBe(true);
  });

  it('bundles the AWS SDK instead of importing the runtime one', () => {
    // Every static import left in the bundle is a Node.js built-in.
    const specifiers = [
      ...bundle.matchAll(/\bimport\s*(?:\{[^}]*\}|\*\s*as\s*[\w$]+|[\w$]+)\s*from\s*["']([^"']+)["']/g),
    ].map((m) => m[1]);
    expect(specifiers.length).toBeGreaterThan(0);
    expect(specifiers.filter((s) => !s?.startsWith('node:'))).toEqual([]);
    // The SDK clients themselves are in the bundle (their wire-protocol names survive minification).
    expect(bundle.includes('DynamoDB_20120810')).toBe(true);
    expect(bundle.includes('SendMessageBatch')).toBe(true);
  });

  it('inlines the routing table into the bundle (the handler reads process.env.PUSHRAIL_ROUTES literally)', () => {
    const config = parseConfigText(readFileSync(EXAMPLE_CONFIG, 'utf8'));
    for (const route of routingTable(config, 'Pushrail')) {
      // A boolean, not toContain: a failure must not print the whole 900 KB bundle.
      const inlined = bundle.includes(`"queueName":"${route.queueName}"`);
      expect(inlined, `route to ${route.queueName} is inlined into index.mjs`).toBe(true);
    }
  });

  it('loads in Node with the function environment alone (no PUSHRAIL_ROUTES variable needed) and answers a request; a missing variable fails the first request, naming it', async () => {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      AWS_REGION: 'us-east-1',
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'pushrail-ingest',
      [INGEST_ENV.eventsTable]: 'Pushrail-events',
      [INGEST_ENV.idempotencyTable]: 'Pushrail-idempotency',
      [INGEST_ENV.queueUrlBase]: 'https://sqs.us-east-1.amazonaws.com/123456789012/',
      [INGEST_ENV.retentionDays]: '30',
    };
    // The handler is built, and its environment validated, at the first request: one without an API
    // key is answered 401 before any AWS call, which needs the routing table the bundle inlined.
    const script = [
      "const context = { functionName: 'ingest', functionVersion: '$LATEST', memoryLimitInMB: '512',",
      "  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:ingest', awsRequestId: 'r-1',",
      '  getRemainingTimeInMillis: () => 29000 };',
      "const m = await import('./index.mjs');",
      "const request = { httpMethod: 'POST', headers: {}, body: '{}', requestContext: { requestId: 'q-1', identity: {} } };",
      'let answer;',
      'try { answer = { statusCode: (await m.handler(request, context)).statusCode }; }',
      'catch (e) { answer = { error: e.message }; }',
      // Last line: the function's own log lines go to stdout before it.
      "process.stdout.write('\\n' + JSON.stringify({ type: typeof m.handler, ...answer }));",
    ].join('\n');
    const answer = async (variables: NodeJS.ProcessEnv) => {
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
        cwd: assetDir,
        env: variables,
        timeout: 30_000,
      });
      return JSON.parse(stdout.split('\n').at(-1) ?? '') as {
        type: string;
        statusCode?: number;
        error?: string;
      };
    };
    expect(await answer(env)).toEqual({ type: 'function', statusCode: 401 });
    const { [INGEST_ENV.eventsTable]: _, ...withoutTable } = env;
    const misconfigured = await answer(withoutTable);
    expect(misconfigured.type).toBe('function');
    expect(misconfigured.error).toContain('invalid function environment');
    expect(misconfigured.error).toContain(INGEST_ENV.eventsTable);
  });

  it('bundles the ingest function, each destination consumer and the replay function into its own ESM file with a source map', () => {
    expect(functions.map((f) => f.service).sort()).toEqual(
      ['pushrail-eventbridge-sender', 'pushrail-ingest', 'pushrail-replay', 'pushrail-s3-batcher'].sort(),
    );
    expect(new Set(functions.map((f) => f.assetDir)).size).toBe(functions.length);
    for (const { service, assetDir } of functions) {
      expect(existsSync(join(assetDir, 'index.mjs')), `${service}: index.mjs`).toBe(true);
      expect(existsSync(join(assetDir, 'index.mjs.map')), `${service}: index.mjs.map`).toBe(true);
      const code = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
      expect(/sourceMappingURL=index\.mjs\.map\s*$/.test(code), `${service}: source map comment`).toBe(true);
    }
  });

  it('loads each destination consumer bundle in Node, and its handler accepts the deployed environment', async () => {
    const consumers = functions.filter(
      (f) => f.service !== 'pushrail-ingest' && f.service !== 'pushrail-replay',
    );
    expect(consumers).toHaveLength(2);
    for (const { service, assetDir, variables } of consumers) {
      // Literal values as deployed; CloudFormation references replaced by plausible names and URLs.
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, AWS_REGION: 'us-east-1' };
      for (const [name, value] of Object.entries(variables)) {
        env[name] =
          typeof value === 'string'
            ? value
            : name.endsWith('_URL')
              ? `https://sqs.us-east-1.amazonaws.com/123456789012/Pushrail-${name.toLowerCase()}`
              : `Pushrail-${name.toLowerCase()}`;
      }
      // An empty batch: the handler validates its environment (DESTINATION against the config schema)
      // and answers without calling AWS.
      const script = [
        "const context = { functionName: 'consumer', functionVersion: '$LATEST', memoryLimitInMB: '512',",
        "  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:consumer', awsRequestId: 'r-1' };",
        "import('./index.mjs').then(async (m) => process.stdout.write(JSON.stringify(await m.handler({ Records: [] }, context))));",
      ].join('\n');
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
        cwd: assetDir,
        env,
        timeout: 30_000,
      });
      expect(JSON.parse(stdout), service).toEqual({ batchItemFailures: [] });
    }
  });

  it('loads the replay bundle in Node, and its handler accepts the deployed environment and refuses bad requests before any AWS call', async () => {
    const replay = functions.find((f) => f.service === 'pushrail-replay');
    expect(replay, 'the replay function').toBeDefined();
    const { assetDir, variables } = replay as (typeof functions)[number];
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, AWS_REGION: 'us-east-1' };
    for (const [name, value] of Object.entries(variables)) {
      env[name] =
        typeof value === 'string'
          ? value
          : name === REPLAY_ENV.queueUrlBase
            ? 'https://sqs.us-east-1.amazonaws.com/123456789012/'
            : `Pushrail-${name.toLowerCase()}`;
    }
    // Both requests are refused by validation, before the journal is read: no AWS call, no credentials.
    const script = [
      "const context = { functionName: 'replay', functionVersion: '$LATEST', memoryLimitInMB: '512',",
      "  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:replay', awsRequestId: 'r-1',",
      '  getRemainingTimeInMillis: () => 900000 };',
      "const m = await import('./index.mjs');",
      'const errors = [];',
      "for (const request of [{ destinationId: 'acme-s3-archive' }, { destinationId: 'nope', source: 'dlq' }]) {",
      '  try { await m.handler(request, context); errors.push(null); }',
      '  catch (e) { errors.push({ name: e.name, message: e.message }); }',
      '}',
      'process.stdout.write(JSON.stringify(errors));',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: assetDir,
      env,
      timeout: 30_000,
    });
    const [malformed, unknown] = JSON.parse(stdout) as { name: string; message: string }[];
    expect(malformed?.name).toBe('ReplayRequestError');
    expect(malformed?.message).toContain('source');
    expect(unknown?.name).toBe('ReplayRequestError');
    expect(unknown?.message).toContain('unknown destination "nope"');
    expect(unknown?.message).toContain('acme-s3-archive, acme-eventbridge');
  });
});

describe('npx cdk synth with an invalid config', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pushrail-bad-config-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('fails on an out-of-range value, naming the field and the range, with no stack trace', async () => {
    const example = JSON.parse(readFileSync(EXAMPLE_CONFIG, 'utf8')) as {
      destinations: Record<string, unknown>[];
    };
    (example.destinations[0] as Record<string, unknown>).flushIntervalSec = 900;
    const badConfig = join(dir, 'bad.config.json');
    writeFileSync(badConfig, JSON.stringify(example));

    const result = await cdkSynth(join(dir, 'cdk.out'), { config: badConfig });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('destinations[0].flushIntervalSec');
    expect(result.stderr).toContain('between 0 and 300');
    expect(result.stderr).toContain('received 900');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });
});
