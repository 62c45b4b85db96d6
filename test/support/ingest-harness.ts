import { randomUUID } from 'node:crypto';
import type { PushrailConfig } from '../../lambdas/core/config.js';
import { queueNames } from '../../lambdas/core/resources.js';
import { createIngestHandler, type IngestHandler } from '../../lambdas/ingest/handler.js';
import { ingestEnvironment } from '../../local/ingest-function.js';
import { provision } from '../../local/provision.js';

export interface IngestHarness {
  /** The ingest handler: it takes the REST API's event (payload 1.0) and the HTTP API's (2.0). */
  readonly handler: IngestHandler;
  readonly tables: Readonly<Record<string, string>>;
  /** Queue URL by destination id, on the emulator itself (for the test's own reads). */
  readonly queueUrls: Readonly<Record<string, string>>;
  readonly queueNames: Readonly<Record<string, string>>;
  readonly namePrefix: string;
  /** The account Pushrail's own resources are in (the management API's VENDOR_ACCOUNT_ID). */
  readonly accountId: string;
  /** Queue URL base on the emulator itself, ending in `/`. */
  readonly queueUrlBase: string;
}

/**
 * Provisions a config under a fresh name prefix (as `npm start` does) and builds the real ingest
 * handler with the environment the local runtime gives it — except that its AWS endpoint is
 * `handlerEndpoint`, typically a FaultProxy in front of moto. It leaves `process.env` alone: the
 * keys and region every client of the run uses come from vitest.config.ts, and a test that runs
 * consumers (whose SDK clients read `AWS_ENDPOINT_URL` from the process) sets that itself.
 */
export async function startIngestHarness(options: {
  readonly config: PushrailConfig;
  readonly awsEndpoint: string;
  readonly handlerEndpoint: string;
  /**
   * Route from the destinations table, as `npm start` and the deployed stack do: only the tables are
   * provisioned, and the destinations (with their queues) are the test's to create, through the
   * management API and the provisioner. Otherwise the config's destinations get their queues here and
   * ingest routes by the config's inlined routing table.
   * @default false
   */
  readonly routesFromTable?: boolean;
  /** Variables set over the local runtime's environment of the handler (e.g. ROUTES_REFRESH_SECONDS). */
  readonly env?: Readonly<Record<string, string>>;
}): Promise<IngestHarness> {
  const namePrefix = `it-${randomUUID().slice(0, 8)}`;
  const target = { endpoint: options.awsEndpoint, region: 'us-east-1' };
  const routesFromTable = options.routesFromTable ?? false;
  const provisioned = await provision({
    config: routesFromTable ? { ...options.config, destinations: [] } : options.config,
    namePrefix,
    target,
  });
  const env = ingestEnvironment({
    config: options.config,
    namePrefix,
    provisioned: {
      ...provisioned,
      queueUrlBase: provisioned.queueUrlBase.replace(options.awsEndpoint, options.handlerEndpoint),
    },
    region: 'us-east-1',
    endpoint: options.handlerEndpoint,
    routesFromTable,
  });
  return {
    handler: createIngestHandler({ ...env, ...options.env }),
    tables: provisioned.tables,
    queueUrls: Object.fromEntries(
      Object.entries(provisioned.destinations).map(([id, d]) => [id, d.queueUrl]),
    ),
    queueNames: Object.fromEntries(
      options.config.destinations.map((d) => [d.id, queueNames(namePrefix, d.id).queue]),
    ),
    namePrefix,
    accountId: provisioned.accountId,
    queueUrlBase: provisioned.queueUrlBase,
  };
}
