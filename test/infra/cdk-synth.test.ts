import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTHORIZER_ENV, INGEST_ENV, MANAGEMENT_ENV, REPLAY_ENV } from '../../lambdas/core/function-env.js';
import { managementEvent } from '../support/management.js';

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

  it('loads in Node with the function environment alone (routes from the destinations table, no PUSHRAIL_ROUTES) and answers a request; a missing variable fails the first request, naming it', async () => {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      AWS_REGION: 'us-east-1',
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'pushrail-ingest',
      [INGEST_ENV.eventsTable]: 'Pushrail-events',
      [INGEST_ENV.idempotencyTable]: 'Pushrail-idempotency',
      [INGEST_ENV.queueUrlBase]: 'https://sqs.us-east-1.amazonaws.com/123456789012/',
      [INGEST_ENV.retentionDays]: '30',
      [INGEST_ENV.destinationsTable]: 'Pushrail-destinations',
      [INGEST_ENV.namePrefix]: 'Pushrail',
    };
    // The handler is built, and its environment validated, at the first request: one without an API
    // key is answered 401 before any AWS call.
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

  it('loads the authorizer bundle in Node; without its usage plan id the first request fails, naming it', async () => {
    const authorizer = functions.find((f) => f.service === 'pushrail-authorizer');
    expect(authorizer).toBeDefined();
    const script = [
      "const m = await import('./index.mjs');",
      'let answer;',
      "try { answer = await m.handler({ version: '2.0', headers: { 'x-api-key': 'k' } }, {}); }",
      'catch (e) { answer = { error: e.message }; }',
      "process.stdout.write('\\n' + JSON.stringify({ type: typeof m.handler, ...answer }));",
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: authorizer?.assetDir,
      env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1' },
      timeout: 30_000,
    });
    const answer = JSON.parse(stdout.split('\n').at(-1) ?? '') as { type: string; error?: string };
    expect(answer.type).toBe('function');
    expect(answer.error).toContain(AUTHORIZER_ENV.usagePlanId);
  });

  it('bundles the ingest, authorizer, management, provisioner and replay functions and one consumer per kind, each into its own ESM file with a source map', () => {
    const ours = functions.filter((f) => f.service !== 'undefined');
    expect(ours.map((f) => f.service).sort()).toEqual(
      [
        'pushrail-authorizer',
        'pushrail-eventbridge-sender',
        'pushrail-ingest',
        'pushrail-management',
        'pushrail-provisioner',
        'pushrail-replay',
        'pushrail-s3-batcher',
        'pushrail-webhook-sender',
      ].sort(),
    );
    // Besides ours, only the custom resource provider framework's function (CDK's own code).
    expect(functions.length - ours.length).toBe(1);
    expect(new Set(ours.map((f) => f.assetDir)).size).toBe(ours.length);
    for (const { service, assetDir } of ours) {
      expect(existsSync(join(assetDir, 'index.mjs')), `${service}: index.mjs`).toBe(true);
      expect(existsSync(join(assetDir, 'index.mjs.map')), `${service}: index.mjs.map`).toBe(true);
      const code = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
      expect(/sourceMappingURL=index\.mjs\.map\s*$/.test(code), `${service}: source map comment`).toBe(true);
    }
  });

  it('loads each destination consumer bundle in Node, and its handler accepts the deployed environment', async () => {
    const consumers = functions.filter((f) =>
      ['pushrail-s3-batcher', 'pushrail-eventbridge-sender'].includes(f.service),
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
      // An empty batch: the handler validates its environment (the destinations table and the name
      // prefix, no fixed destination) and answers without calling AWS.
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

  it('loads the management bundle in Node, and its handler accepts the deployed environment and refuses an unsigned call before any AWS call', async () => {
    const management = functions.find((f) => f.service === 'pushrail-management');
    expect(management, 'the management function').toBeDefined();
    const { assetDir, variables } = management as (typeof functions)[number];
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, AWS_REGION: 'us-east-1' };
    for (const [name, value] of Object.entries(variables)) {
      env[name] =
        typeof value === 'string'
          ? value
          : name === 'VENDOR_ACCOUNT_ID'
            ? '123456789012'
            : name === MANAGEMENT_ENV.deliveryFunctions
              ? // Stack.toJsonString of the consumers' ARNs: JSON once CloudFormation has joined it.
                JSON.stringify({
                  S3: 'arn:aws:lambda:us-east-1:123456789012:function:Pushrail-s3',
                  EVENTBRIDGE: 'arn:aws:lambda:us-east-1:123456789012:function:Pushrail-eb',
                  WEBHOOK: 'arn:aws:lambda:us-east-1:123456789012:function:Pushrail-wh',
                })
              : `Pushrail-${name.toLowerCase()}`;
    }
    const script = [
      "const context = { functionName: 'management', functionVersion: '$LATEST', memoryLimitInMB: '512',",
      "  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:management', awsRequestId: 'r-1',",
      '  getRemainingTimeInMillis: () => 29000 };',
      "const m = await import('./index.mjs');",
      // As API Gateway proxies it, with no SigV4 identity (a producer's API key alone).
      `const request = ${JSON.stringify(managementEvent('GET', '/v1/destinations', { as: null }))};`,
      'const answer = await m.handler(request, context);',
      "process.stdout.write('\\n' + JSON.stringify({ statusCode: answer.statusCode }));",
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: assetDir,
      env,
      timeout: 30_000,
    });
    expect(JSON.parse(stdout.split('\n').at(-1) ?? '')).toEqual({ statusCode: 401 });
  });

  it('loads the provisioner bundle in Node, exporting its handler', async () => {
    const provisioner = functions.find((f) => f.service === 'pushrail-provisioner');
    expect(provisioner, 'the provisioner function').toBeDefined();
    const script = "const m = await import('./index.mjs'); process.stdout.write(typeof m.handler);";
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: (provisioner as (typeof functions)[number]).assetDir,
      env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1' },
      timeout: 30_000,
    });
    expect(stdout).toBe('function');
  });

  it('loads the replay bundle in Node, and its handler accepts the deployed environment (no destination list) and refuses a bad request before any AWS call', async () => {
    const replay = functions.find((f) => f.service === 'pushrail-replay');
    expect(replay, 'the replay function').toBeDefined();
    const { assetDir, variables } = replay as (typeof functions)[number];
    expect(variables).not.toHaveProperty('DESTINATIONS');
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, AWS_REGION: 'us-east-1' };
    for (const [name, value] of Object.entries(variables)) {
      env[name] =
        typeof value === 'string'
          ? value
          : name === REPLAY_ENV.queueUrlBase
            ? 'https://sqs.us-east-1.amazonaws.com/123456789012/'
            : `Pushrail-${name.toLowerCase()}`;
    }
    // Refused by validation, before the journal or the destinations table is read: no AWS call.
    const script = [
      "const context = { functionName: 'replay', functionVersion: '$LATEST', memoryLimitInMB: '512',",
      "  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:replay', awsRequestId: 'r-1',",
      '  getRemainingTimeInMillis: () => 900000 };',
      "const m = await import('./index.mjs');",
      "try { await m.handler({ destinationId: 'acme-s3-archive' }, context); process.stdout.write('null'); }",
      'catch (e) { process.stdout.write(JSON.stringify({ name: e.name, message: e.message })); }',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: assetDir,
      env,
      timeout: 30_000,
    });
    const malformed = JSON.parse(stdout) as { name: string; message: string } | null;
    expect(malformed?.name).toBe('ReplayRequestError');
    expect(malformed?.message).toContain('source');
  });

  it('builds the same template from a config with no destinations and one with 40, listing them on stderr as not deployed', async () => {
    const example = JSON.parse(readFileSync(EXAMPLE_CONFIG, 'utf8')) as { destinations: { id: string }[] };
    const write = (name: string, count: number) => {
      const path = join(dir, name);
      const [s3] = example.destinations;
      writeFileSync(
        path,
        JSON.stringify({
          ...example,
          destinations: Array.from({ length: count }, (_, i) => ({ ...s3, id: `c-${i}` })),
        }),
      );
      return path;
    };
    const [none, forty] = await Promise.all([
      cdkSynth(join(dir, 'out-0'), { config: write('none.json', 0) }),
      cdkSynth(join(dir, 'out-40'), { config: write('forty.json', 40) }),
    ]);
    expect(none.code, none.stderr).toBe(0);
    expect(forty.code, forty.stderr).toBe(0);
    const templateOf = (out: string) => readFileSync(join(dir, out, 'Pushrail.template.json'), 'utf8');
    expect(templateOf('out-40')).toBe(templateOf('out-0'));
    expect(templateOf('out-0')).toBe(readFileSync(join(outdir, 'Pushrail.template.json'), 'utf8'));
    expect(forty.stderr).toContain('lists 40 destination(s); destinations are not deployed');
    expect(forty.stderr).toContain('npx pushrail destinations apply -f');
    expect(none.stderr).not.toContain('destinations are not deployed');
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

  it('fails on an out-of-range vendor setting, naming the field and the range, with no stack trace', async () => {
    const example = JSON.parse(readFileSync(EXAMPLE_CONFIG, 'utf8')) as Record<string, unknown>;
    example.retentionDays = 900;
    const badConfig = join(dir, 'bad.config.json');
    writeFileSync(badConfig, JSON.stringify(example));

    const result = await cdkSynth(join(dir, 'cdk.out'), { config: badConfig });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('retentionDays');
    expect(result.stderr).toContain('between 1 and 365');
    expect(result.stderr).toContain('received 900');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });
});
