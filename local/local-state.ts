import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProvisionedDestination } from '../lambdas/destinations/index.js';

/**
 * `.pushrail/local.json`: how to reach the running local pipeline (DESIGN.md "Local runtime"). Tools,
 * tests and people read it instead of guessing ports and names.
 */
export interface LocalState {
  /** Base URL; events go to `${apiUrl}/v1/events`. */
  readonly apiUrl: string;
  readonly apiKey: string;
  readonly awsEndpoint: string;
  readonly region: string;
  /** Table name by role (`events`, `idempotency`). */
  readonly tables: Readonly<Record<string, string>>;
  readonly destinations: Readonly<Record<string, ProvisionedDestination>>;
  /**
   * The replay function, invoked through Lambda's Invoke API at `apiUrl`:
   * `aws lambda invoke --endpoint-url <apiUrl> --function-name <replayFunctionName> …` or `npx pushrail replay`.
   */
  readonly replayFunctionName: string;
  /**
   * The notifications inbox: the queue a rule on the vendor's default bus copies Pushrail's own events
   * into (`Destination Health Changed`).
   */
  readonly notificationsQueueUrl: string;
}

export const STATE_FILE = 'local.json';

export function statePath(stateDir: string): string {
  return join(stateDir, STATE_FILE);
}

export async function readLocalState(stateDir: string): Promise<Partial<LocalState> | undefined> {
  try {
    return JSON.parse(await readFile(statePath(stateDir), 'utf8')) as Partial<LocalState>;
  } catch {
    return undefined; // first run, or a damaged file that the next write replaces
  }
}

/** Written to a temporary file and renamed, so a reader never sees half a file. */
export async function writeLocalState(stateDir: string, state: LocalState): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const path = statePath(stateDir);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

/**
 * The local API key: PUSHRAIL_API_KEY if set, else the one a previous run stored, else a new random
 * one. Keeping it across restarts means scripts and shell history keep working.
 */
export function localApiKey(fromEnv: string | undefined, previous: Partial<LocalState> | undefined): string {
  if (fromEnv) return fromEnv;
  if (typeof previous?.apiKey === 'string' && previous.apiKey.length > 0) return previous.apiKey;
  return `local-${randomBytes(24).toString('base64url')}`;
}
