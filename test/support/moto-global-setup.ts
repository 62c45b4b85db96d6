import { fileURLToPath } from 'node:url';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { type Emulator, startMoto } from '../../local/emulator.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The moto_server of the test file's worker (set per file by moto-per-worker.ts). */
    awsEndpoint: string;
    /** One moto_server per worker slot, by VITEST_POOL_ID - 1. */
    awsEndpoints: string[];
  }
}

/**
 * One moto_server per worker slot rather than one for the run: moto answers one request at a time
 * per process (Python's GIL), so workers sharing one wait for each other's calls, and a moto that has
 * served every earlier file (thousands of queues, objects and items) answers slower than a fresh
 * one. Each file gets its slot's moto, emptied before the file starts (test/support/moto-per-worker.ts);
 * a slot runs one file at a time. Tests still isolate themselves by unique resource names.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const slots = Math.max(1, project.globalConfig.maxWorkers ?? 1);
  // The scale test runs moto with item-level transaction rollback, every other file with moto's SQS
  // bookkeeping made cheap (see each launcher's docstring); the answers are moto's either way.
  const launcher =
    process.env.PUSHRAIL_SCALE_TEST === '1' ? './moto_server_item_rollback.py' : './moto_server_fast.py';
  const command = ['python3', fileURLToPath(new URL(launcher, import.meta.url))];
  const emulators: Emulator[] = await Promise.all(
    Array.from({ length: slots }, () => startMoto({ command })),
  );
  project.provide(
    'awsEndpoints',
    emulators.map((e) => e.endpoint),
  );
  // What a file sees before its worker picks its own (and what a single-worker run uses).
  project.provide('awsEndpoint', emulators[0]?.endpoint as string);
  return async () => {
    await Promise.all(emulators.map((e) => e.stop()));
  };
}
