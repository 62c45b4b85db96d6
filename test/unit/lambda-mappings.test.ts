import { readFileSync } from 'node:fs';
import {
  CreateEventSourceMappingCommand,
  DeleteEventSourceMappingCommand,
  InvokeCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
  ResourceInUseException,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createLambdaMappings,
  eventSourceMappingSettings,
  functionNameOf,
  MAPPING_CLIENT_MAX_ATTEMPTS,
} from '../../lambdas/adapters/lambda-mappings.js';
import { provisionerTrigger } from '../../lambdas/adapters/provisioner-trigger.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { MappingInTransitionError } from '../../lambdas/core/errors.js';
import type { Destination } from '../../lambdas/destinations/index.js';
import { pollerBatching } from '../../local/delivery-pollers.js';

/**
 * The Lambda mapping adapter's rare branches, with aws-sdk-client-mock because moto has no
 * transitional mapping states (Creating, Updating, Deleting) and never throttles; and the SDK's retry
 * of throttled calls with a stand-in HTTP handler (no network).
 */

const EXAMPLES = JSON.parse(readFileSync(new URL('../../pushrail.config.json', import.meta.url), 'utf8'))
  .destinations as Record<string, unknown>[];
const destination = (type: 'S3' | 'EVENTBRIDGE', extra: Record<string, unknown> = {}): Destination =>
  parseConfig({
    vendor: 'acme',
    destinations: [{ ...(EXAMPLES.find((d) => d.type === type) as object), id: 'dest-1', ...extra }],
  }).destinations[0] as Destination;
const FUNCTIONS = { S3: 'pr-s3', EVENTBRIDGE: 'pr-eb' };
const QUEUE = { queueUrl: 'https://sqs/pr-dest-1', queueArn: 'arn:aws:sqs:us-east-1:123456789012:pr-dest-1' };
const lambdaMock = mockClient(LambdaClient);

afterEach(() => {
  lambdaMock.reset();
  vi.useRealTimers();
});

function port() {
  return createLambdaMappings({
    lambda: new LambdaClient({ region: 'us-east-1' }),
    functions: FUNCTIONS,
    namePrefix: 'pr',
  });
}

function existing(state: string, overrides: Record<string, unknown> = {}) {
  const want = eventSourceMappingSettings(destination('S3'));
  return {
    UUID: 'uuid-1',
    State: state,
    EventSourceArn: QUEUE.queueArn,
    FunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:pr-s3',
    ...want,
    FunctionResponseTypes: ['ReportBatchItemFailures' as const],
    ...overrides,
  };
}

describe('the mapping settings', () => {
  it('are the kind’s batching, as the local pollers run it, with partial batch responses', () => {
    const s3 = destination('S3', { maxEvents: 250, flushIntervalSec: 30 });
    expect(eventSourceMappingSettings(s3)).toEqual({
      BatchSize: pollerBatching(s3).batchSize,
      MaximumBatchingWindowInSeconds: pollerBatching(s3).windowSeconds,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(
      eventSourceMappingSettings(destination('EVENTBRIDGE', { maxConcurrency: 7 })).ScalingConfig,
    ).toEqual({
      MaximumConcurrency: 7,
    });
  });

  it('names a function by name, ARN or qualified ARN alike', () => {
    expect(functionNameOf('pr-s3')).toBe('pr-s3');
    expect(functionNameOf('arn:aws:lambda:us-east-1:123456789012:function:pr-s3')).toBe('pr-s3');
    expect(functionNameOf('arn:aws:lambda:us-east-1:123456789012:function:pr-s3:live')).toBe('pr-s3');
  });
});

describe('a mapping Lambda is still changing', () => {
  it('is in transition when it is Updating and differs, and nothing is sent', async () => {
    lambdaMock.on(ListEventSourceMappingsCommand).resolves({ EventSourceMappings: [existing('Updating')] });
    await expect(port().ensure(destination('S3'), QUEUE, false)).rejects.toBeInstanceOf(
      MappingInTransitionError,
    );
    expect(lambdaMock.commandCalls(UpdateEventSourceMappingCommand)).toHaveLength(0);
  });

  it('is converged when it is Enabling into exactly what is wanted', async () => {
    lambdaMock.on(ListEventSourceMappingsCommand).resolves({ EventSourceMappings: [existing('Enabling')] });
    await port().ensure(destination('S3'), QUEUE, true);
    expect(lambdaMock.commandCalls(UpdateEventSourceMappingCommand)).toHaveLength(0);
  });

  it('a re-created destination waits for its old mapping, still Deleting, instead of creating a second', async () => {
    lambdaMock.on(ListEventSourceMappingsCommand).resolves({ EventSourceMappings: [existing('Deleting')] });
    await expect(port().ensure(destination('S3'), QUEUE, true)).rejects.toThrow(/still Deleting/);
    expect(lambdaMock.commandCalls(CreateEventSourceMappingCommand)).toHaveLength(0);
  });

  it('ResourceInUseException on an update is in transition, not a failure', async () => {
    lambdaMock.on(ListEventSourceMappingsCommand).resolves({ EventSourceMappings: [existing('Enabled')] });
    lambdaMock
      .on(UpdateEventSourceMappingCommand)
      .rejects(new ResourceInUseException({ message: 'busy', $metadata: {} }));
    await expect(port().ensure(destination('S3'), QUEUE, false)).rejects.toBeInstanceOf(
      MappingInTransitionError,
    );
  });

  it('an update removes a maximum concurrency the kind no longer sets', async () => {
    lambdaMock
      .on(ListEventSourceMappingsCommand)
      .resolves({ EventSourceMappings: [existing('Enabled', { ScalingConfig: { MaximumConcurrency: 9 } })] });
    lambdaMock.on(UpdateEventSourceMappingCommand).resolves({});
    await port().ensure(destination('S3'), QUEUE, true);
    expect(lambdaMock.commandCalls(UpdateEventSourceMappingCommand)[0]?.args[0].input).toMatchObject({
      UUID: 'uuid-1',
      Enabled: true,
      ScalingConfig: {},
    });
  });

  it('remove skips a mapping already Deleting and takes ResourceNotFound as done', async () => {
    // Never seen by this adapter: it scans each kind's function for the destination's queue.
    lambdaMock.on(ListEventSourceMappingsCommand).resolves({ EventSourceMappings: [] });
    lambdaMock.on(ListEventSourceMappingsCommand, { FunctionName: 'pr-s3' }).resolves({
      EventSourceMappings: [existing('Deleting'), existing('Enabled', { UUID: 'uuid-2' })],
    });
    lambdaMock
      .on(DeleteEventSourceMappingCommand)
      .rejects(Object.assign(new Error('gone'), { name: 'ResourceNotFoundException' }));
    await port().remove('dest-1');
    expect(lambdaMock.commandCalls(DeleteEventSourceMappingCommand).map((c) => c.args[0].input.UUID)).toEqual(
      ['uuid-2'],
    );
  });
});

describe('throttling', () => {
  it('the SDK retries TooManyRequestsException with backoff, up to MAPPING_CLIENT_MAX_ATTEMPTS', async () => {
    lambdaMock.restore();
    vi.useFakeTimers();
    let calls = 0;
    const lambda = new LambdaClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: MAPPING_CLIENT_MAX_ATTEMPTS,
      requestHandler: {
        handle: async () => {
          calls += 1;
          const throttled = calls <= 3;
          const body = throttled
            ? { Type: 'User', message: 'Rate exceeded' }
            : { EventSourceMappings: [], NextMarker: null };
          return {
            response: {
              statusCode: throttled ? 429 : 200,
              headers: {
                'content-type': 'application/json',
                ...(throttled ? { 'x-amzn-errortype': 'TooManyRequestsException' } : {}),
              },
              body: new TextEncoder().encode(JSON.stringify(body)),
            },
          };
        },
      },
    });
    const listing = lambda.send(new ListEventSourceMappingsCommand({ FunctionName: 'pr-s3' }));
    // Three throttles need three backoff delays (from 1 s, doubling, full jitter): let them pass.
    for (let i = 0; i < 20 && calls < 4; i += 1) await vi.advanceTimersByTimeAsync(5_000);
    await expect(listing).resolves.toMatchObject({ EventSourceMappings: [] });
    expect(calls).toBe(4);
    expect(MAPPING_CLIENT_MAX_ATTEMPTS).toBeGreaterThan(4);
    lambda.destroy();
    mockClient(LambdaClient);
  });
});

describe('the provisioner trigger', () => {
  it('invokes the provisioner asynchronously with the destination id', async () => {
    const mock = mockClient(LambdaClient);
    mock.on(InvokeCommand).resolves({ StatusCode: 202 });
    const warn = vi.fn();
    await provisionerTrigger(new LambdaClient({ region: 'us-east-1' }), 'pr-provisioner', { warn })('dest-1');
    const input = mock.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ FunctionName: 'pr-provisioner', InvocationType: 'Event' });
    expect(JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array))).toEqual({
      destinationId: 'dest-1',
    });
    expect(warn).not.toHaveBeenCalled();
    mock.restore();
  });

  it('logs a failed invoke instead of failing the change (the reconcile converges it)', async () => {
    const mock = mockClient(LambdaClient);
    mock.on(InvokeCommand).rejects(Object.assign(new Error('nope'), { name: 'ResourceNotFoundException' }));
    const warn = vi.fn();
    await expect(
      provisionerTrigger(new LambdaClient({ region: 'us-east-1' }), 'pr-provisioner', { warn })('dest-1'),
    ).resolves.toBeUndefined();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('periodic reconcile'), {
      destinationId: 'dest-1',
      errorName: 'ResourceNotFoundException',
    });
    mock.restore();
  });
});
