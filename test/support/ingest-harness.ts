import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { PushrailConfig } from '../../lambdas/core/config.js';
import { queueNames } from '../../lambdas/core/resources.js';
import { ingestEnvironment } from '../../local/ingest-function.js';
import { provision } from '../../local/provision.js';

export interface IngestHarness {
  readonly handler: (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
  readonly tables: Readonly<Record<string, string>>;
  /** Queue URL by destination id, on the emulator itself (for the test's own reads). */
  readonly queueUrls: Readonly<Record<string, string>>;
  readonly queueNames: Readonly<Record<string, string>>;
  readonly namePrefix: string;
}

/**
 * Provisions a config under a fresh name prefix (as `npm start` does) and loads the real ingest
 * handler with the environment the local runtime gives it — except that its AWS endpoint is
 * `handlerEndpoint`, typically a FaultProxy in front of moto.
 */
export async function startIngestHarness(options: {
  readonly config: PushrailConfig;
  readonly awsEndpoint: string;
  readonly handlerEndpoint: string;
}): Promise<IngestHarness> {
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  process.env.AWS_REGION = 'us-east-1';
  const namePrefix = `it-${randomUUID().slice(0, 8)}`;
  const target = { endpoint: options.awsEndpoint, region: 'us-east-1' };
  const provisioned = await provision({ config: options.config, namePrefix, target });
  const env = ingestEnvironment({
    config: options.config,
    namePrefix,
    provisioned: {
      ...provisioned,
      queueUrlBase: provisioned.queueUrlBase.replace(options.awsEndpoint, options.handlerEndpoint),
    },
    region: 'us-east-1',
    endpoint: options.handlerEndpoint,
  });
  Object.assign(process.env, env);
  const { handler } = await import('../../lambdas/ingest/handler.js');
  return {
    handler,
    tables: provisioned.tables,
    queueUrls: Object.fromEntries(
      Object.entries(provisioned.destinations).map(([id, d]) => [id, d.queueUrl]),
    ),
    queueNames: Object.fromEntries(
      options.config.destinations.map((d) => [d.id, queueNames(namePrefix, d.id).queue]),
    ),
    namePrefix,
  };
}
