import type { Router } from '@aws-lambda-powertools/event-handler/http';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { DeliveriesReader } from '../adapters/deliveries-reader.js';
import { parseFeedQuery } from '../core/deliveries-feed.js';
import { DependencyUnavailableError, ValidationError } from '../core/errors.js';
import type { RequestHelpers } from './health-routes.js';

/**
 * `GET /v1/deliveries` (DESIGN.md "Deliveries feed and the operator console"): the recent attempts
 * across destinations, newest first, with filters and a cursor. The query is planned in
 * core/deliveries-feed.ts and read by adapters/deliveries-reader.ts.
 */
export function deliveriesRoutes(
  router: Router,
  reader: Pick<DeliveriesReader, 'read'> | undefined,
  logger: Logger,
  helpers: Pick<RequestHelpers, 'caller' | 'query' | 'ok'>,
  now: () => Date = () => new Date(),
): void {
  router.get('/v1/deliveries', (async (reqCtx: { event: unknown }) => {
    const event = reqCtx.event as APIGatewayProxyEvent;
    helpers.caller(event);
    const params = helpers.query(event, [
      'destinationId',
      'customerExternalId',
      'outcome',
      'from',
      'to',
      'cursor',
      'limit',
    ]);
    const parsed = parseFeedQuery(params, now());
    if (!parsed.ok) throw new ValidationError('invalid deliveries query', parsed.issues);
    if (!reader)
      throw new DependencyUnavailableError('the deliveries feed is not configured: ATTEMPTS_TABLE is unset');
    const page = await reader.read(parsed.query);
    logger.info('deliveries read', { ...page.reads, answered: page.deliveries.length });
    return helpers.ok(200, {
      deliveries: page.deliveries,
      ...(page.cursor ? { cursor: page.cursor } : {}),
    });
  }) as never);
}
