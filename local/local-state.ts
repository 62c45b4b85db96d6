import { randomBytes, randomUUID } from 'node:crypto';
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

/** The write in progress per file: writes of one process run one after another, in call order. */
const writes = new Map<string, Promise<void>>();

/**
 * Written to a temporary file and renamed, so a reader never sees half a file. Writes are queued per
 * file, so the last call's state is what stays; two at once used to share one temporary name, and the
 * second rename failed (ENOENT) when the runtime wrote local.json for two changes at once.
 */
export function writeLocalState(stateDir: string, state: LocalState): Promise<void> {
  const path = statePath(stateDir);
  const write = async () => {
    await mkdir(stateDir, { recursive: true });
    const temporary = `${path}.${process.pid}.${randomUUID()}.tmp`;
    await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, path);
  };
  const next = (writes.get(path) ?? Promise.resolve()).catch(() => undefined).then(write);
  writes.set(path, next);
  return next;
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
