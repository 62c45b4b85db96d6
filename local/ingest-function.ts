import type { PushrailConfig } from '../lambdas/core/config.js';
import { INGEST_ENV } from '../lambdas/core/function-env.js';
import { TABLE_LIST } from '../lambdas/core/resources.js';
import { routingTable } from '../lambdas/core/routing.js';
import { createIngestHandler } from '../lambdas/ingest/handler.js';
import type { IngestProxyHandler } from './api-server.js';
import type { Provisioned } from './provision.js';
import { provisionedTable } from './provisioned-table.js';

export interface IngestSettings {
  readonly config: PushrailConfig;
  readonly namePrefix: string;
  readonly provisioned: Provisioned;
  readonly region: string;
  readonly endpoint: string;
  /**
   * Route from the destinations table (destinations at runtime, as `npm start` does) rather than the
   * config's inlined routing table (as the deployed stack still does, and the ingest tests).
   * @default false
   */
  readonly routesFromTable?: boolean;
}

export function ingestFunctionName(namePrefix: string): string {
  return `${namePrefix}-ingest`;
}

/** The variables the CDK stack gives the ingest function, with the local values. */
export function ingestEnvironment(settings: IngestSettings): Record<string, string> {
  const { config, namePrefix, provisioned } = settings;
  const tables: Record<string, string> = {};
  for (const table of TABLE_LIST) {
    tables[table.envVar] = provisionedTable(provisioned.tables, table.role);
  }
  return {
    ...tables,
    [INGEST_ENV.queueUrlBase]: provisioned.queueUrlBase,
    [INGEST_ENV.routes]: JSON.stringify(routingTable(config, namePrefix)),
    [INGEST_ENV.retentionDays]: String(config.retentionDays),
    AWS_REGION: settings.region,
    AWS_ENDPOINT_URL: settings.endpoint,
    AWS_LAMBDA_FUNCTION_NAME: ingestFunctionName(namePrefix),
    ...(settings.routesFromTable ? { [INGEST_ENV.namePrefix]: namePrefix } : {}),
  };
}

/** The deployed ingest handler, run in this process with the environment the stack gives it. */
export function localIngestHandler(settings: IngestSettings): IngestProxyHandler {
  return createIngestHandler({ ...process.env, ...ingestEnvironment(settings) });
}
