import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build } from 'esbuild';
import { INGEST_ENV } from '../lambdas/core/function-env.js';
import { routingTable } from '../lambdas/core/routing.js';
import { BENCH_CONFIG } from './workload.js';

/**
 * Cold start: each function's bundle, built as `cdk deploy` builds it, and the time a fresh Node.js
 * process takes to import it, against importing a bundle of only the AWS SDK clients it uses.
 *
 * lib/pushrail-function.ts does not export its bundling options (they sit inline in the
 * NodejsFunction props), so they are mirrored here, with NodejsFunction's own esbuild flags for them
 * (aws-cdk-lib/aws-lambda-nodejs bundling): `--bundle --platform=node --target=node24 --format=esm
 * --outfile=index.mjs --minify --sourcemap --sources-content=false --main-fields=module,main
 * --banner:js=...`, nothing external, and the ingest function's routing table `define`d in.
 * The import runs with `--enable-source-maps`, as the deployed NODE_OPTIONS does.
 */

const REPO = fileURLToPath(new URL('..', import.meta.url));
/** Each function's handler entry, as the stack bundles it. */
const FUNCTIONS = {
  ingest: 'lambdas/ingest/handler.ts',
  's3-batcher': 'lambdas/destinations/s3/handler.ts',
  'eventbridge-sender': 'lambdas/destinations/eventbridge/handler.ts',
  replay: 'lambdas/replay/handler.ts',
} as const;
const RUNS = 7;

/** Mirrors ESM_REQUIRE_BANNER in lib/pushrail-function.ts. */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __pushrailCreateRequire } from 'node:module';" +
  'const require = __pushrailCreateRequire(import.meta.url);';

/** The client class each SDK package exports. */
const CLIENT_CLASSES: Readonly<Record<string, string>> = {
  '@aws-sdk/client-dynamodb': 'DynamoDBClient',
  '@aws-sdk/client-eventbridge': 'EventBridgeClient',
  '@aws-sdk/client-lambda': 'LambdaClient',
  '@aws-sdk/client-s3': 'S3Client',
  '@aws-sdk/client-secrets-manager': 'SecretsManagerClient',
  '@aws-sdk/client-sqs': 'SQSClient',
  '@aws-sdk/client-sts': 'STSClient',
};

/**
 * What Lambda's runtime sets for every function; values are placeholders. Importing a bundle reads no
 * function variable: each function builds its handler, and validates its environment, on first use.
 */
const FUNCTION_ENV: Readonly<Record<string, string>> = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
};

export interface ColdStartResult {
  readonly fn: string;
  readonly bundleBytes: number;
  readonly mapBytes: number;
  /** gzip of the bundle and its source map: about the zipped asset Lambda downloads. */
  readonly gzipBytes: number;
  readonly sdkClients: readonly string[];
  readonly importMs: number;
  readonly sdkImportMs: number;
  /** importMs ÷ sdkImportMs. */
  readonly ratio: number;
  readonly runs: number;
}

function options(entry: string, outfile: string, define: Record<string, string> = {}): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    define,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: REPO,
  };
}

/** Milliseconds to `import()` the module in a fresh node process (process start excluded). */
function importMs(file: string): number {
  const script =
    'const t = performance.now(); await import(process.argv[1]); ' +
    'process.stdout.write(String(performance.now() - t));';
  const res = spawnSync(
    process.execPath,
    ['--enable-source-maps', '--input-type=module', '-e', script, pathToFileURL(file).href],
    { env: { PATH: process.env.PATH ?? '', ...FUNCTION_ENV }, encoding: 'utf8', cwd: tmpdir() },
  );
  if (res.status !== 0) throw new Error(`importing ${file} failed: ${res.stderr.slice(0, 500)}`);
  return Number(res.stdout);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export async function runColdStart(): Promise<ColdStartResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'pushrail-bench-'));
  try {
    const results: ColdStartResult[] = [];
    for (const [fn, entry] of Object.entries(FUNCTIONS)) {
      const outDir = join(dir, fn);
      mkdirSync(outDir);
      const define =
        fn === 'ingest'
          ? {
              [`process.env.${INGEST_ENV.routes}`]: JSON.stringify(
                JSON.stringify(routingTable(BENCH_CONFIG, 'bench')),
              ),
            }
          : {};
      const outfile = join(outDir, 'index.mjs');
      const built = await build(options(join(REPO, entry), outfile, define));
      const packages = new Set<string>();
      for (const input of Object.keys(built.metafile?.inputs ?? {})) {
        const match = /node_modules\/(@aws-sdk\/client-[a-z0-9-]+)\//.exec(input);
        if (match?.[1]) packages.add(match[1]);
      }
      const sdkClients = [...packages].sort();

      // The floor: a bundle that imports only those clients, built the same way.
      const sdkDir = join(dir, `${fn}-sdk`);
      mkdirSync(sdkDir);
      const sdkEntry = join(sdkDir, 'entry.mjs');
      writeFileSync(
        sdkEntry,
        sdkClients.map((pkg) => `export { ${CLIENT_CLASSES[pkg] ?? 'default'} } from '${pkg}';`).join('\n'),
      );
      const sdkOutfile = join(sdkDir, 'index.mjs');
      await build({ ...options(sdkEntry, sdkOutfile), nodePaths: [join(REPO, 'node_modules')] });

      const handlerRuns: number[] = [];
      const sdkRuns: number[] = [];
      for (let i = 0; i < RUNS; i += 1) {
        // Interleaved, so a busy machine slows both alike.
        handlerRuns.push(importMs(outfile));
        sdkRuns.push(importMs(sdkOutfile));
      }
      const bundle = readFileSync(outfile);
      const map = readFileSync(`${outfile}.map`);
      const importTime = median(handlerRuns);
      const sdkTime = median(sdkRuns);
      results.push({
        fn,
        bundleBytes: statSync(outfile).size,
        mapBytes: map.byteLength,
        gzipBytes: gzipSync(bundle, { level: 9 }).byteLength + gzipSync(map, { level: 9 }).byteLength,
        sdkClients,
        importMs: importTime,
        sdkImportMs: sdkTime,
        ratio: importTime / sdkTime,
        runs: RUNS,
      });
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
