import { inject } from 'vitest';

/**
 * Runs before each integration test file, in its worker: points `inject('awsEndpoint')` at the moto
 * of the worker's slot (moto-global-setup.ts starts one per slot) and empties it, so the file starts
 * on a fresh emulator whatever ran before it in that slot. A slot runs one file at a time, so the
 * reset never pulls state from under a running test.
 *
 * Vitest gives a worker the context the main process provided, and no per-worker value; the value is
 * set here on the worker's own copy (Vitest's worker state, which `inject` reads), so the tests keep
 * calling `inject('awsEndpoint')`.
 */

const endpoints = inject('awsEndpoints');
const slot = Number(process.env.VITEST_POOL_ID ?? 1);
// Never two slots on one moto: the reset below would empty it under the other slot's file.
const endpoint = endpoints[slot - 1];
if (!endpoint) throw new Error(`no moto_server for worker slot ${slot} (${endpoints.length} started)`);

const state = (globalThis as { __vitest_worker__?: { providedContext?: Record<string, unknown> } })
  .__vitest_worker__;
if (!state?.providedContext) {
  throw new Error("Vitest's worker state has no providedContext: moto-per-worker.ts needs updating");
}
state.providedContext.awsEndpoint = endpoint;
if (inject('awsEndpoint') !== endpoint)
  throw new Error('inject("awsEndpoint") did not take the worker\'s moto');

const reset = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
if (!reset.ok) throw new Error(`moto reset at ${endpoint} answered ${reset.status}`);
