import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it, vi } from 'vitest';
import { createManagementHandler } from '../../lambdas/control/handler.js';
import type { Provisioner } from '../../lambdas/control/provisioner.js';
import {
  createProvisionerHandler,
  UnknownProvisionerEventError,
} from '../../lambdas/control/provisioner-handler.js';
import { call, MemoryAudit, MemorySecrets, MemoryStore } from '../support/management.js';

/** The provisioner Lambda's event dispatch, over a stand-in provisioner (no network). */

const ENV = {
  DESTINATIONS_TABLE: 'destinations',
  NAME_PREFIX: 'pr',
  DELIVERY_FUNCTIONS: JSON.stringify({ S3: 'pr-s3', EVENTBRIDGE: 'pr-eb' }),
  AWS_REGION: 'us-east-1',
};
const context = {} as Context;

function withFake(env: Record<string, string> = ENV) {
  const fake = {
    converge: vi.fn(async () => undefined),
    reconcileAll: vi.fn(async () => undefined),
    notify: vi.fn(),
    settle: vi.fn(async () => undefined),
    teardownAll: vi.fn(async () => ({ destinations: 2, queuesDeleted: 4, secretsDeleted: 1 })),
  } satisfies Provisioner;
  return { fake, handler: createProvisionerHandler(env, { provisioner: () => fake }) };
}

describe('the provisioner handler', () => {
  it('converges the destination of {"destinationId"}, and answers a failed run without throwing', async () => {
    const { fake, handler } = withFake();
    expect(await handler({ destinationId: 'dest-1' }, context)).toEqual({
      destinationId: 'dest-1',
      outcome: 'converged',
    });
    expect(fake.converge).toHaveBeenCalledWith('dest-1');
    fake.converge.mockRejectedValueOnce(new Error('AccessDenied'));
    expect(await handler({ destinationId: 'dest-1' }, context)).toEqual({
      destinationId: 'dest-1',
      outcome: 'failed',
    });
  });

  it('reconciles everything on a rule’s or a schedule’s Scheduled Event', async () => {
    const { fake, handler } = withFake();
    const rule = {
      version: '0',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      detail: {},
      resources: [],
    };
    expect(await handler(rule, context)).toEqual({ reconciled: true });
    await handler({ 'detail-type': 'Scheduled Event', source: 'aws.scheduler' }, context);
    expect(fake.reconcileAll).toHaveBeenCalledTimes(2);
    expect(fake.converge).not.toHaveBeenCalled();
  });

  it('tears down only on a custom-resource Delete, and keeps the physical id on Update', async () => {
    const { fake, handler } = withFake();
    const cr = {
      StackId: 'arn:stack',
      LogicalResourceId: 'Teardown',
      ResponseURL: 'https://x',
      ResourceProperties: {},
    };
    expect(await handler({ ...cr, RequestType: 'Create' }, context)).toEqual({
      PhysicalResourceId: 'pr-provisioner-teardown',
    });
    expect(await handler({ ...cr, RequestType: 'Update', PhysicalResourceId: 'kept' }, context)).toEqual({
      PhysicalResourceId: 'kept',
    });
    expect(fake.teardownAll).not.toHaveBeenCalled();
    expect(await handler({ ...cr, RequestType: 'Delete', PhysicalResourceId: 'kept' }, context)).toEqual({
      PhysicalResourceId: 'kept',
      Data: { destinations: 2, queuesDeleted: 4, secretsDeleted: 1 },
    });
    expect(fake.teardownAll).toHaveBeenCalledTimes(1);
  });

  it('refuses an event of any other shape with a clear error, calling nothing', async () => {
    const { fake, handler } = withFake();
    for (const event of [
      {},
      { destinationId: 'Not An Id' },
      { destinationId: 'a', extra: 1 },
      'reconcile',
      null,
    ]) {
      await expect(handler(event, context)).rejects.toBeInstanceOf(UnknownProvisionerEventError);
    }
    await expect(handler({ hello: 1 }, context)).rejects.toThrow(/keys: hello/);
    expect(fake.converge).not.toHaveBeenCalled();
    expect(fake.reconcileAll).not.toHaveBeenCalled();
  });

  it('names the variable when DELIVERY_FUNCTIONS is not a JSON object of kinds', () => {
    expect(() => createProvisionerHandler({ ...ENV, DELIVERY_FUNCTIONS: '{"SFTP":"x"}' })).toThrow(
      /DELIVERY_FUNCTIONS/,
    );
    expect(() => createProvisionerHandler({ ...ENV, MAPPING_CALLS_PER_SECOND: '40' })).toThrow(
      /MAPPING_CALLS_PER_SECOND/,
    );
  });
});

describe('the management function with PROVISIONER_FUNCTION', () => {
  it('notifies the provisioner by an asynchronous invoke after a change', async () => {
    const lambda = mockClient(LambdaClient);
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    const store = new MemoryStore();
    const handler = createManagementHandler(
      {
        DESTINATIONS_TABLE: 'destinations',
        AUDIT_TABLE: 'audit',
        NAME_PREFIX: 'pr',
        VENDOR_ACCOUNT_ID: '111122223333',
        AWS_REGION: 'us-east-1',
        PROVISIONER_FUNCTION: 'pr-provisioner',
      },
      { adapters: { store, audit: new MemoryAudit(store), secrets: new MemorySecrets() } },
    );
    const { readFileSync } = await import('node:fs');
    const body = JSON.parse(readFileSync(new URL('../../pushrail.config.json', import.meta.url), 'utf8'))
      .destinations[0];
    const answer = await call(handler, 'POST', '/v1/destinations', { body });
    expect(answer.statusCode, answer.raw).toBe(201);
    const input = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ FunctionName: 'pr-provisioner', InvocationType: 'Event' });
    expect(JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array))).toEqual({
      destinationId: body.id,
    });
    lambda.restore();
  });
});
