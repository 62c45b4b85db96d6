import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuthorizerHandler } from '../lambdas/authorizer/handler.js';
import type { PushrailConfig } from '../lambdas/core/config.js';
import { ConfigError } from '../lambdas/core/errors.js';
import { AUTHORIZER_ENV } from '../lambdas/core/function-env.js';
import { queueNames } from '../lambdas/core/resources.js';
import { type ApiServer, type IngestGateway, startApiServer } from './api-server.js';
import type { EmulatorTarget } from './aws-clients.js';
import { loadConfigFile } from './config-file.js';
import { type Emulator, MOTO_MISSING_HELP, motoInstalled, startMoto } from './emulator.js';
import { ingestFunctionName, localIngestHandler } from './ingest-function.js';
import { type LocalState, localApiKey, readLocalState, statePath, writeLocalState } from './local-state.js';
import { ensureProducerPlan } from './producer-plan.js';
import { provision } from './provision.js';
import { readyLine } from './ready-line.js';
import { replayFunction } from './replay-function.js';
import { type RuntimeDestinations, startRuntimeDestinations } from './runtime-destinations.js';

/**
 * `npm start`: the whole pipeline on this machine (DESIGN.md "Local runtime").
 *
 * Environment: PUSHRAIL_CONFIG (default pushrail.config.json), PORT (default 3000), AWS_ENDPOINT_URL
 * (use a running emulator instead of starting moto), PUSHRAIL_NAME_PREFIX (default pushrail-local),
 * PUSHRAIL_STATE_DIR (default .pushrail), PUSHRAIL_API_KEY (default: generated once, then kept),
 * PUSHRAIL_LOCAL_API (`rest`, the default, or `http`: POST /v1/events as the HTTP API serves it, with
 * the real authorizer against a producer usage plan on the emulator).
 */

export const DEFAULT_NAME_PREFIX = 'pushrail-local';
/** Longest a clean shutdown may take before we give up and exit 1. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

const SEED_EVENT_PATH = fileURLToPath(new URL('./seed-event.json', import.meta.url));

interface Running {
  emulator?: Emulator;
  destinations?: RuntimeDestinations;
  server?: ApiServer;
}

const running: Running = {};
let stopping = false;

async function main(): Promise<void> {
  const configPath = resolve(process.env.PUSHRAIL_CONFIG ?? 'pushrail.config.json');
  const stateDir = resolve(process.env.PUSHRAIL_STATE_DIR ?? '.pushrail');
  const namePrefix = process.env.PUSHRAIL_NAME_PREFIX ?? DEFAULT_NAME_PREFIX;
  const port = parsePort(process.env.PORT);
  const gatewayKind = parseGatewayKind(process.env.PUSHRAIL_LOCAL_API);

  const config = await loadConfigFile(configPath);
  checkNamePrefix(namePrefix, config);

  const firstRegion = config.destinations.find((d) => 'region' in d);
  const region =
    process.env.AWS_REGION ??
    (firstRegion && 'region' in firstRegion ? firstRegion.region : undefined) ??
    'us-east-1';
  process.env.AWS_REGION = region;
  // The emulator accepts any key; these only keep the SDK from looking for a real profile.
  if (!process.env.AWS_ACCESS_KEY_ID) {
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    delete process.env.AWS_SESSION_TOKEN;
  }

  let endpoint = process.env.AWS_ENDPOINT_URL;
  if (endpoint) {
    console.log(`Using the AWS emulator at ${endpoint} (AWS_ENDPOINT_URL)`);
  } else {
    if (!motoInstalled()) fail(MOTO_MISSING_HELP);
    running.emulator = await startMoto({ ownProcessGroup: true });
    endpoint = running.emulator.endpoint;
    // Every SDK client in this process, the handlers' included, goes to the emulator.
    process.env.AWS_ENDPOINT_URL = endpoint;
    console.log(`Started moto_server at ${endpoint}`);
  }
  const target: EmulatorTarget = { endpoint, region };

  const provisioned = await provision({ config, namePrefix, target });
  for (const warning of provisioned.warnings) console.warn(`warning: ${warning}`);
  console.log(
    `Provisioned ${Object.values(provisioned.tables).join(', ')} and the queues of ${config.destinations.length} destination(s)`,
  );

  // Destinations are runtime data: the config file is applied to the destinations table, as
  // `npx pushrail destinations apply` would, and the provisioner starts each one's poller.
  let apiUrl = '';
  let apiKey = '';
  const replay = replayFunction({ config, namePrefix, provisioned });
  const saveState = (destinations: LocalState['destinations']) =>
    writeLocalState(stateDir, {
      apiUrl,
      apiKey,
      awsEndpoint: endpoint,
      region,
      tables: provisioned.tables,
      destinations,
      replayFunctionName: replay.name,
      notificationsQueueUrl: provisioned.notificationsQueueUrl ?? '',
    }).catch((error: unknown) => console.error(`could not write ${statePath(stateDir)}:`, error));
  running.destinations = startRuntimeDestinations({
    config,
    namePrefix,
    target,
    tables: provisioned.tables,
    accountId: provisioned.accountId,
    onChange: (destinations) => {
      if (apiUrl) void saveState(destinations);
    },
  });
  await running.destinations.applyConfig(`config:${displayName(configPath)}`);
  console.log(`Applied ${config.destinations.length} destination(s) from ${displayName(configPath)}`);

  const handler = localIngestHandler({
    config,
    namePrefix,
    provisioned,
    region,
    endpoint,
    routesFromTable: true,
  });
  apiKey = localApiKey(process.env.PUSHRAIL_API_KEY, await readLocalState(stateDir));
  const ingestGateway = await localIngestGateway(gatewayKind, target, namePrefix, apiKey);
  running.server = await startApiServer({
    handler,
    ingestGateway,
    managementHandler: running.destinations.managementHandler,
    functions: { [replay.name]: { handler: replay.handler, timeoutMs: replay.timeoutMs } },
    apiKey,
    port,
    function: { functionName: ingestFunctionName(namePrefix), region, accountId: provisioned.accountId },
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE') fail(`port ${port} is in use: set PORT to a free port`);
    throw error;
  });
  apiUrl = running.server.url;
  console.log(
    gatewayKind === 'http'
      ? 'POST /v1/events is served as the HTTP API serves it (Lambda authorizer on x-api-key; PUSHRAIL_LOCAL_API=http)'
      : 'POST /v1/events is served as the REST API serves it (API key and usage plan)',
  );
  await saveState(running.destinations.destinations());

  console.log(readyLine({ apiUrl, apiKey, stateFile: statePath(stateDir), seedEventFile: SEED_EVENT_PATH }));
}

/** Stops what was started, newest first, and exits. Safe to call more than once. */
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    const timer = setTimeout(() => {
      console.error(`shutdown took over ${SHUTDOWN_TIMEOUT_MS} ms; exiting`);
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    try {
      await running.server?.close();
      await running.destinations?.stop();
      await running.emulator?.stop();
    } catch (error) {
      console.error('error while stopping:', error);
      code = 1;
    }
    process.exit(code);
  }
  // A second signal while stopping: the first shutdown is already on its way out.
  return new Promise<never>(() => {});
}

/** Ends the start with a message for the user: main() prints it without a stack (an expected problem) and exits 1. */
function fail(message: string): never {
  throw new StartError(message);
}

class StartError extends Error {
  public constructor(message: string) {
    super(message);
    this.name = 'StartError';
  }
}

/** A path as the user would type it from here. */
function displayName(path: string): string {
  const relative = path.startsWith(`${process.cwd()}/`) ? path.slice(process.cwd().length + 1) : path;
  return relative;
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value === '') return 3000;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    fail(`PORT must be a whole number from 0 to 65535 (received ${JSON.stringify(value)})`);
  }
  return port;
}

function parseGatewayKind(value: string | undefined): IngestGateway['kind'] {
  if (value === undefined || value === '' || value === 'rest') return 'rest';
  if (value === 'http') return 'http';
  return fail(`PUSHRAIL_LOCAL_API must be rest or http (received ${JSON.stringify(value)})`);
}

/**
 * The HTTP API emulation: the producer usage plan and key on the emulator (as `cdk deploy` makes
 * them), and the deployed authorizer built against it, so the key is checked the way AWS checks it.
 */
async function localIngestGateway(
  kind: IngestGateway['kind'],
  target: EmulatorTarget,
  namePrefix: string,
  apiKey: string,
): Promise<IngestGateway> {
  if (kind === 'rest') return { kind };
  const plan = await ensureProducerPlan(target, namePrefix, apiKey);
  const authorizer = createAuthorizerHandler({
    ...process.env,
    [AUTHORIZER_ENV.usagePlanId]: plan.usagePlanId,
    AWS_REGION: target.region,
    AWS_ENDPOINT_URL: target.endpoint,
  });
  return { kind, authorizer };
}

function checkNamePrefix(namePrefix: string, config: PushrailConfig): void {
  try {
    for (const d of config.destinations) queueNames(namePrefix, d.id);
  } catch (error) {
    fail(`PUSHRAIL_NAME_PREFIX: ${(error as Error).message}`);
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (!stopping) console.log(`${signal}: stopping`);
    void shutdown(0);
  });
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof StartError) console.error(error.message);
  else console.error('npm start failed:', error);
  void shutdown(1);
});
