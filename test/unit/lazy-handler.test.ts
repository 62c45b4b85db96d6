import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { lazyHandler } from '../../lambdas/adapters/lazy-handler.js';

const context = {} as Context;

describe('lazyHandler', () => {
  it('builds the handler at the first invocation, not at import, and keeps it for the container', async () => {
    let built = 0;
    const create = vi.fn(() => {
      built += 1;
      const instance = built;
      return async (event: string) => `${event} by instance ${instance}`;
    });
    const handler = lazyHandler(create);
    expect(create).not.toHaveBeenCalled();
    expect(await handler('first', context)).toBe('first by instance 1');
    expect(await handler('second', context)).toBe('second by instance 1');
    expect(create).toHaveBeenCalledTimes(1);
  });

  it('lets a bad environment fail the invocation, and the next one tries again', async () => {
    let attempts = 0;
    const handler = lazyHandler(() => {
      attempts += 1;
      if (attempts === 1) throw new Error('invalid function environment');
      return async (event: string) => event;
    });
    expect(() => handler('x', context)).toThrow('invalid function environment');
    expect(await handler('y', context)).toBe('y');
  });
});
