import type { ProvisionerDeps } from '../../lambdas/control/provisioner.js';

/**
 * Crash injection for the provisioner's convergence tests (test/integration/provisioner.test.ts with
 * the local mappings, lambda-mappings.test.ts with Lambda's): the n-th call of any dependency takes
 * effect, then the run dies.
 */

export class InjectedCrash extends Error {
  public constructor(step: string) {
    super(`injected crash after ${step}`);
    this.name = 'InjectedCrash';
  }
}

/**
 * The provisioner's deps with a crash after the `crashAfter`-th call (of the store, the queues, the
 * mappings or the secret deleter): the call takes effect, then the run dies. `steps` lists the calls.
 */
export function crashingDeps(
  base: ProvisionerDeps,
  crashAfter: number,
): { deps: ProvisionerDeps; steps: string[] } {
  const steps: string[] = [];
  let crashed = false;
  const after = async <T>(step: string, call: () => Promise<T>): Promise<T> => {
    const result = await call();
    steps.push(step);
    if (!crashed && steps.length === crashAfter) {
      crashed = true;
      throw new InjectedCrash(step);
    }
    return result;
  };
  const sqsProxy = new Proxy(base.sqs, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver);
      return (command: { constructor: { name: string } }, ...rest: unknown[]) =>
        after(`sqs.${command.constructor.name}`, () =>
          (target.send as (...args: unknown[]) => Promise<unknown>).call(target, command, ...rest),
        );
    },
  });
  const { store: s, mappings: m } = base;
  return {
    steps,
    deps: {
      ...base,
      sqs: sqsProxy,
      store: {
        get: (id) => after('store.get', () => s.get(id)),
        list: () => after('store.list', () => s.list()),
        setProvisioning: (id, version, state) =>
          after(`store.setProvisioning(${state.status})`, () => s.setProvisioning(id, version, state)),
        remove: (id, version) => after('store.remove', () => s.remove(id, version)),
      },
      mappings: {
        ensure: (d, q, enabled) => after(`mappings.ensure(${enabled})`, () => m.ensure(d, q, enabled)),
        remove: (id) => after('mappings.remove', () => m.remove(id)),
        list: () => after('mappings.list', () => m.list()),
      },
      deleteSecret: (arn) => after('deleteSecret', () => base.deleteSecret(arn)),
    },
  };
}
