import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startMoto } from '../../local/emulator.js';

declare module 'vitest' {
  export interface ProvidedContext {
    awsEndpoint: string;
  }
}

/** One moto_server for the whole integration run; tests isolate themselves by unique resource names. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const emulator = await startMoto();
  project.provide('awsEndpoint', emulator.endpoint);
  return () => emulator.stop();
}
