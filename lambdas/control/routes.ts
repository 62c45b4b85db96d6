/**
 * The routes of the management API (DESIGN.md "Management API"), in API Gateway's path syntax: the
 * one list the CDK stack creates methods from (lib/management-api.ts), with AWS_IAM auth each. Only
 * the routes the management handler (./handler.ts) serves are here; test/infra checks that it answers
 * every one, so a route added to the router and not here (or the reverse) fails a test instead of
 * answering API Gateway's 403 in production.
 */
export const MANAGEMENT_ROUTES = [
  { method: 'POST', path: '/v1/destinations' },
  { method: 'GET', path: '/v1/destinations' },
  { method: 'GET', path: '/v1/destinations/{id}' },
  { method: 'PUT', path: '/v1/destinations/{id}' },
  { method: 'DELETE', path: '/v1/destinations/{id}' },
  { method: 'POST', path: '/v1/destinations/{id}/pause' },
  { method: 'POST', path: '/v1/destinations/{id}/resume' },
  { method: 'POST', path: '/v1/destinations/{id}/test' },
  { method: 'POST', path: '/v1/destinations/{id}/rotate-secret' },
  { method: 'GET', path: '/v1/audit' },
  { method: 'GET', path: '/v1/events/{eventId}' },
  { method: 'GET', path: '/v1/health' },
  { method: 'GET', path: '/v1/destinations/{id}/health' },
  { method: 'GET', path: '/v1/deliveries' },
] as const satisfies readonly ManagementRoute[];

export interface ManagementRoute {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Below the stage, with `{name}` path parameters. */
  readonly path: string;
}
