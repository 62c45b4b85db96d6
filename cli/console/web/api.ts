/**
 * The page's calls: to the console server only (same origin), which forwards the allow-listed ones to
 * the management API, signed. The page never sees a credential, and needs none.
 */

export class ConsoleApiError extends Error {
  public constructor(
    public readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ConsoleApiError';
  }
}

export async function getJson<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, v);
  return answer<T>(await fetch(url, { headers: { accept: 'application/json' } }));
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return answer<T>(
    await fetch(new URL(path, window.location.origin), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    }),
  );
}

async function answer<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } } & T;
  if (!res.ok)
    throw new ConsoleApiError(res.status, body.error?.message ?? `the console answered ${res.status}`);
  return body;
}

/** What the pages read of the API's answers (DESIGN.md "Trace, health, audit" and the feed). */
export interface Delivery {
  readonly at: string;
  readonly destinationId: string;
  readonly type: string;
  readonly customerExternalId?: string;
  readonly eventIds: string[];
  readonly eventCount?: number;
  readonly eventTypes?: string[];
  readonly outcome: string;
  readonly latencyMs?: number;
  readonly errorCode?: string;
  readonly reason?: string;
  readonly target?: string;
  readonly test?: boolean;
}

export interface Health {
  readonly destinationId: string;
  readonly type: string;
  readonly status: string;
  readonly since?: string;
  readonly delivered?: number;
  readonly failed?: number;
  readonly deadLettered?: number;
  readonly successRate?: number | null;
  readonly latencyMs?: { readonly p50?: number | null; readonly p95?: number | null };
  readonly backlog?: {
    readonly queued?: number;
    readonly inFlight?: number;
    readonly oldestAgeSeconds?: number | null;
  };
  readonly dlqDepth?: number;
  readonly lastError?: { readonly at?: string; readonly errorCode?: string; readonly reason?: string };
}

export interface Destination {
  readonly id: string;
  readonly type: string;
  readonly name?: string;
  readonly customerExternalId: string;
  readonly status?: string;
}

export async function destinations(): Promise<Destination[]> {
  return (await getJson<{ destinations: Destination[] }>('/api/destinations')).destinations;
}
