import type { Context } from 'aws-lambda';

/**
 * A Lambda entry point that builds its handler on the first invocation and keeps it for the
 * container's life: reading the environment at import time would fail every test that imports the
 * module, and building per invocation would lose the credential and bus caches.
 */
export function lazyHandler<E, R>(
  create: () => (event: E, context: Context) => Promise<R>,
): (event: E, context: Context) => Promise<R> {
  let instance: ((event: E, context: Context) => Promise<R>) | undefined;
  return (event, context) => {
    instance ??= create();
    return instance(event, context);
  };
}
