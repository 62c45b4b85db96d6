/**
 * What the console's page may ask of the management API: the read routes its pages show, mapped from
 * `/api/...` to `/v1/...`, and nothing else. The allow-list is the console's whole reach: no create,
 * update, delete, pause, rotate or test goes through it, whatever a page (or a script in it) sends.
 * Replay is not forwarded to the API at all: the console runs it through the replay CLI's own path
 * (cli/replay-run.ts), see server.ts.
 */

export interface ForwardedRoute {
  /** The management API path the request goes to. */
  readonly path: string;
  /** The query parameters passed on (others are dropped; the API would refuse unknown ones). */
  readonly query: readonly string[];
}

/** Destination ids and event ids as the API accepts them: anything else is not forwarded. */
const DESTINATION_ID = '[a-z0-9][a-z0-9-]{0,39}';
const EVENT_ID = 'evt_[0-9a-hjkmnp-tv-z]{26}';

const ROUTES: readonly {
  readonly pattern: RegExp;
  readonly to: (m: RegExpExecArray) => string;
  readonly query: readonly string[];
}[] = [
  {
    pattern: /^\/api\/deliveries$/,
    to: () => '/v1/deliveries',
    query: ['destinationId', 'customerExternalId', 'outcome', 'from', 'to', 'cursor', 'limit'],
  },
  { pattern: /^\/api\/health$/, to: () => '/v1/health', query: ['customerExternalId'] },
  {
    pattern: new RegExp(`^/api/destinations/(${DESTINATION_ID})/health$`),
    to: (m) => `/v1/destinations/${m[1]}/health`,
    query: [],
  },
  { pattern: /^\/api\/destinations$/, to: () => '/v1/destinations', query: ['customerExternalId'] },
  {
    pattern: new RegExp(`^/api/events/(${EVENT_ID})$`),
    to: (m) => `/v1/events/${m[1]}`,
    query: ['include'],
  },
  {
    pattern: /^\/api\/audit$/,
    to: () => '/v1/audit',
    query: ['destinationId', 'customerExternalId', 'action', 'from', 'to', 'cursor'],
  },
];

/** The API route a GET of the page goes to, or undefined when it is not on the allow-list. */
export function forwardedRoute(method: string, pathname: string): ForwardedRoute | undefined {
  if (method !== 'GET') return undefined;
  for (const route of ROUTES) {
    const match = route.pattern.exec(pathname);
    if (match) return { path: route.to(match), query: route.query };
  }
  return undefined;
}
