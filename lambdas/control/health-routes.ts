import type { Router } from '@aws-lambda-powertools/event-handler/http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { NotImplementedError } from '../core/errors.js';
import { evaluateHealth, type HealthTarget, type HealthDeps as ObserveDeps } from '../observe/health.js';
import type { DestinationView } from './destinations.js';

/**
 * The health routes of the management API (DESIGN.md "Trace, health, audit"):
 * `GET /v1/health[?customerExternalId=]` answers `{"destinations": [...]}` like `GET
 * /v1/destinations`, and `GET /v1/destinations/{id}/health` one destination's health (404 if unknown).
 * Both evaluate, and so announce a change (lambdas/observe/health.ts).
 */

export type HealthDeps = Partial<ObserveDeps> & Pick<ObserveDeps, 'logger'>;

/** The management handler's own request helpers (handler.ts), so both read requests one way. */
export interface RequestHelpers {
  readonly caller: (event: APIGatewayProxyEvent) => string;
  readonly idOf: (params: Record<string, string>) => string;
  readonly query: <const K extends string>(
    event: APIGatewayProxyEvent,
    allowed: readonly K[],
  ) => Partial<Record<K, string>>;
  readonly ok: (statusCode: number, payload: unknown) => unknown;
}

export function healthRoutes(
  router: Router,
  useCases: {
    get: (id: string) => Promise<DestinationView>;
    list: (customerExternalId?: string) => Promise<DestinationView[]>;
  },
  deps: HealthDeps,
  helpers: RequestHelpers,
): void {
  const ready = (): ObserveDeps => {
    const { rollups, queues, announcer } = deps;
    if (!rollups || !queues || !announcer)
      throw new NotImplementedError('health needs the attempts table: ATTEMPTS_TABLE is not set');
    return { ...deps, rollups, queues, announcer };
  };
  const v1 =
    (route: (event: APIGatewayProxyEvent, params: Record<string, string>) => Promise<unknown>) =>
    (reqCtx: { event: unknown; params: Record<string, string> }) =>
      route(reqCtx.event as APIGatewayProxyEvent, reqCtx.params) as never;

  router.get(
    '/v1/health',
    v1(async (event) => {
      helpers.caller(event);
      const { customerExternalId } = helpers.query(event, ['customerExternalId']);
      const views = await useCases.list(customerExternalId);
      return helpers.ok(200, { destinations: await evaluateHealth(views.map(targetOf), ready()) });
    }),
  );
  router.get(
    '/v1/destinations/:id/health',
    v1(async (event, params) => {
      helpers.caller(event);
      helpers.query(event, []);
      const view = await useCases.get(helpers.idOf(params));
      const [health] = await evaluateHealth([targetOf(view)], ready());
      return helpers.ok(200, health);
    }),
  );
}

function targetOf(view: DestinationView): HealthTarget {
  return {
    destinationId: view.id,
    type: view.type,
    customerExternalId: view.customerExternalId,
    paused: view.status === 'PAUSED',
    createdAt: view.createdAt,
    ...(view.queueUrl ? { queueUrl: view.queueUrl } : {}),
    ...(view.dlqUrl ? { dlqUrl: view.dlqUrl } : {}),
  };
}
