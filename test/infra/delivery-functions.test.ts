import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/core/config.js';
import { DELIVERY_ENV } from '../../lambdas/core/function-env.js';
import { queueNames, type TABLES } from '../../lambdas/core/resources.js';
import type { Destination } from '../../lambdas/destinations/index.js';
import { deliverySettings, KINDS } from '../../lambdas/destinations/index.js';
import { PushrailStack } from '../../lib/pushrail-stack.js';
import {
  EB_KEYS_SECRET_ARN,
  EXTENDED_CONFIG,
  S3_KEYS_SECRET_ARN,
  SEED_CONFIG_INPUT,
  synthStack,
  testApp,
} from './fixtures.js';
import { arnOf, type Permission, type Resource, TemplateQueries } from './template-queries.js';

const STACK_NAME = 'Pushrail';
const config = EXTENDED_CONFIG;
const SEED_S3 = 'acme-s3-archive';
const SEED_EB = 'acme-eventbridge';

describe('destination consumers', () => {
  let template: Template;
  let queries: TemplateQueries;
  let resources: Record<string, Resource>;

  // One synth for the file: the seed's destinations plus ACCESS_KEY, small-batch and higher-concurrency ones.
  beforeAll(() => {
    template = synthStack(config, STACK_NAME).template;
    queries = new TemplateQueries(template);
    resources = queries.resources;
  });

  const destination = (id: string): Destination => {
    const found = config.destinations.find((d) => d.id === id);
    if (!found) throw new Error(`no destination ${id} in the test config`);
    return found;
  };

  const logicalIdOfType = (type: string, match: (r: Resource) => boolean, what: string): string =>
    queries.logicalIdOf(type, match, what);

  /** The consumer function of a destination: the one whose DESTINATION variable names it. */
  const deliveryFunctionId = (destinationId: string): string =>
    logicalIdOfType(
      'AWS::Lambda::Function',
      (r) => {
        const env = (r.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)
          ?.Variables;
        const raw = env?.[DELIVERY_ENV.destination];
        return typeof raw === 'string' && (JSON.parse(raw) as { id?: unknown }).id === destinationId;
      },
      `consumer of ${destinationId}`,
    );

  const consumer = (destinationId: string): Resource =>
    resources[deliveryFunctionId(destinationId)] as Resource;

  const queueId = (name: string) => queries.queueId(name);
  const tableId = (role: keyof typeof TABLES) => queries.tableId(role);

  const eventSourceMapping = (destinationId: string): Record<string, unknown> => {
    const fn = deliveryFunctionId(destinationId);
    const id = logicalIdOfType(
      'AWS::Lambda::EventSourceMapping',
      (r) => JSON.stringify(r.Properties.FunctionName) === JSON.stringify({ Ref: fn }),
      `event source mapping of ${destinationId}`,
    );
    return (resources[id] as Resource).Properties;
  };

  /** What a destination's consumer role may do, as (action, resource) pairs. */
  const permissions = (destinationId: string): Permission[] => queries.permissionsOf(consumer(destinationId));

  const onService = (perms: readonly Permission[], service: string): Permission[] =>
    perms.filter((p) => p.action.startsWith(`${service}:`));

  /** The resources an action is allowed on. */
  const resourcesOf = (perms: readonly Permission[], action: string): unknown[] =>
    perms.filter((p) => p.action === action).map((p) => p.resource);

  describe('functions', () => {
    it.each(config.destinations.map((d) => [d.id, d.type] as const))(
      'runs the consumer of %s (%s) on Node.js 24 / arm64 with the timeout and memory of its type, under a generated name',
      (destinationId, type) => {
        const settings = KINDS[type].delivery;
        const fn = consumer(destinationId).Properties;
        expect(fn).toMatchObject({
          Runtime: 'nodejs24.x',
          Architectures: ['arm64'],
          Handler: 'index.handler',
          Timeout: settings.timeoutSeconds,
          MemorySize: settings.memoryMb,
        });
        expect(fn).not.toHaveProperty('FunctionName');
        const logGroup = (fn.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
        expect(resources[logGroup]).toMatchObject({
          Type: 'AWS::Logs::LogGroup',
          Properties: { RetentionInDays: 30 },
        });
      },
    );

    it.each(config.destinations.map((d) => d.id))(
      'hands the consumer of %s its own config entry, queue, DLQ, tables and retention',
      (destinationId) => {
        const names = queueNames(STACK_NAME, destinationId);
        const variables = (
          consumer(destinationId).Properties.Environment as { Variables: Record<string, unknown> }
        ).Variables;
        expect(variables).toEqual({
          NODE_OPTIONS: '--enable-source-maps',
          POWERTOOLS_SERVICE_NAME:
            destination(destinationId).type === 'S3' ? 'pushrail-s3-batcher' : 'pushrail-eventbridge-sender',
          [DELIVERY_ENV.destination]: JSON.stringify(destination(destinationId)),
          [DELIVERY_ENV.vendor]: config.vendor,
          [DELIVERY_ENV.eventsTable]: { Ref: tableId('events') },
          [DELIVERY_ENV.sealsTable]: { Ref: tableId('seals') },
          [DELIVERY_ENV.attemptsTable]: { Ref: tableId('attempts') },
          [DELIVERY_ENV.sourceQueueUrl]: { Ref: queueId(names.queue) },
          [DELIVERY_ENV.dlqUrl]: { Ref: queueId(names.dlq) },
          [DELIVERY_ENV.retentionDays]: String(config.retentionDays),
        });
      },
    );

    it('has one consumer and one event source mapping per destination, and no other function', () => {
      // + ingest and replay (replay.test.ts)
      template.resourceCountIs('AWS::Lambda::Function', config.destinations.length + 2);
      template.resourceCountIs('AWS::Lambda::EventSourceMapping', config.destinations.length);
    });
  });

  describe('event source mappings', () => {
    it('batches the seed S3 destination by maxEvents (1000) within flushIntervalSec (60 s), reporting item failures', () => {
      expect(eventSourceMapping(SEED_S3)).toMatchObject({
        EventSourceArn: arnOf(queueId(queueNames(STACK_NAME, SEED_S3).queue)),
        BatchSize: 1000,
        MaximumBatchingWindowInSeconds: 60,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    });

    it("follows another S3 destination's own maxEvents and flushIntervalSec", () => {
      expect(eventSourceMapping('acme-s3-keys')).toMatchObject({
        EventSourceArn: arnOf(queueId(queueNames(STACK_NAME, 'acme-s3-keys').queue)),
        BatchSize: 10,
        MaximumBatchingWindowInSeconds: 5,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    });

    it('sends EventBridge batches of 100 within 1 s, capped at the default maxConcurrency (2), reporting item failures', () => {
      expect(eventSourceMapping(SEED_EB)).toMatchObject({
        EventSourceArn: arnOf(queueId(queueNames(STACK_NAME, SEED_EB).queue)),
        BatchSize: 100,
        MaximumBatchingWindowInSeconds: 1,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 2 },
      });
    });

    it("caps an EventBridge destination's concurrency at its configured maxConcurrency (5)", () => {
      expect(eventSourceMapping('acme-eventbridge-fast')).toMatchObject({
        ScalingConfig: { MaximumConcurrency: 5 },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    });
  });

  describe('queue visibility timeouts', () => {
    it.each(config.destinations.map((d) => d.id))(
      'sets the visibility timeout of the %s queue from its consumer timeout and batching window',
      (destinationId) => {
        const d = destination(destinationId);
        const expected = deliverySettings(d).visibilityTimeoutSeconds;
        const queue = resources[queueId(queueNames(STACK_NAME, destinationId).queue)] as Resource;
        expect(queue.Properties.VisibilityTimeout).toBe(expected);
        const fn = consumer(destinationId).Properties;
        expect(expected).toBeGreaterThanOrEqual(6 * (fn.Timeout as number));
      },
    );

    it('gives the seed S3 queue 6 x 120 s + 60 s = 780 s, and the seed EventBridge queue 6 x 60 s + 1 s = 361 s', () => {
      const visibility = (id: string) =>
        (resources[queueId(queueNames(STACK_NAME, id).queue)] as Resource).Properties.VisibilityTimeout;
      expect(visibility(SEED_S3)).toBe(780);
      expect(visibility(SEED_EB)).toBe(361);
    });
  });

  describe('IAM', () => {
    it('lets the S3 batcher assume exactly its configured role, with no S3 or Secrets Manager access', () => {
      const perms = permissions(SEED_S3);
      expect(onService(perms, 'sts')).toEqual([
        { action: 'sts:AssumeRole', resource: 'arn:aws:iam::123456789012:role/PushrailWriter' },
      ]);
      expect(onService(perms, 's3')).toEqual([]);
      expect(onService(perms, 'secretsmanager')).toEqual([]);
      expect(onService(perms, 'kms')).toEqual([]);
    });

    it('lets the EventBridge sender assume exactly its configured role, with no events:* (the bus is reached as the customer)', () => {
      const perms = permissions(SEED_EB);
      expect(onService(perms, 'sts')).toEqual([
        { action: 'sts:AssumeRole', resource: 'arn:aws:iam::123456789012:role/PushrailEventBridgeWriter' },
      ]);
      expect(onService(perms, 'events')).toEqual([]);
      expect(onService(perms, 'secretsmanager')).toEqual([]);
    });

    it.each([
      ['acme-s3-keys', S3_KEYS_SECRET_ARN],
      ['acme-eventbridge-keys', EB_KEYS_SECRET_ARN],
    ])(
      'lets the ACCESS_KEY destination %s read exactly its secret, and assume no role',
      (destinationId, secretArn) => {
        const perms = permissions(destinationId);
        expect(onService(perms, 'secretsmanager')).toEqual([
          { action: 'secretsmanager:GetSecretValue', resource: secretArn },
        ]);
        expect(onService(perms, 'sts')).toEqual([]);
        expect(onService(perms, 's3')).toEqual([]);
        expect(onService(perms, 'events')).toEqual([]);
      },
    );

    it.each(config.destinations.map((d) => d.id))(
      'lets the consumer of %s send only to its own DLQ, and consume only its own queue',
      (destinationId) => {
        const names = queueNames(STACK_NAME, destinationId);
        const queue = arnOf(queueId(names.queue));
        const dlq = arnOf(queueId(names.dlq));
        const sqs = onService(permissions(destinationId), 'sqs');
        expect(resourcesOf(sqs, 'sqs:SendMessage')).toEqual([dlq]);
        for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']) {
          expect(resourcesOf(sqs, action), action).toEqual([queue]);
        }
        // Nothing on any other queue, and nothing but SendMessage on the DLQ.
        for (const p of sqs) {
          if (JSON.stringify(p.resource) === JSON.stringify(dlq)) expect(p.action).toBe('sqs:SendMessage');
          else expect(p.resource, p.action).toEqual(queue);
        }
      },
    );

    it.each(config.destinations.map((d) => [d.id, d.type] as const))(
      'gives the consumer of %s (%s) only the DynamoDB actions its adapters call, on its tables',
      (destinationId, type) => {
        const dynamodb = onService(permissions(destinationId), 'dynamodb');
        const granted = (role: keyof typeof TABLES) =>
          dynamodb
            .filter((p) => JSON.stringify(p.resource) === JSON.stringify(arnOf(tableId(role))))
            .map((p) => p.action)
            .sort();
        expect(granted('attempts')).toEqual(['dynamodb:PutItem']);
        if (type === 'S3') {
          expect(granted('events')).toEqual(['dynamodb:BatchGetItem', 'dynamodb:GetItem']);
          expect(granted('seals')).toEqual(
            [
              'dynamodb:BatchGetItem',
              'dynamodb:DeleteItem',
              'dynamodb:GetItem',
              'dynamodb:PutItem',
              'dynamodb:UpdateItem',
            ].sort(),
          );
        } else {
          // Entries are built from the queued messages: no stored event, no seal.
          expect(granted('events')).toEqual([]);
          expect(granted('seals')).toEqual([]);
        }
        expect(granted('idempotency')).toEqual([]);
        const tables = (['events', 'seals', 'attempts'] as const).map((role) =>
          JSON.stringify(arnOf(tableId(role))),
        );
        for (const p of dynamodb) expect(tables, p.action).toContain(JSON.stringify(p.resource));
      },
    );

    it.each(config.destinations.map((d) => d.id))(
      'gives the consumer of %s a role of its own with no managed policy',
      (destinationId) => {
        const role = (consumer(destinationId).Properties.Role as { 'Fn::GetAtt': [string, string] })[
          'Fn::GetAtt'
        ][0];
        expect(resources[role]?.Type).toBe('AWS::IAM::Role');
        expect(resources[role]?.Properties).not.toHaveProperty('ManagedPolicyArns');
        const others = config.destinations
          .filter((d) => d.id !== destinationId)
          .map((d) => deliveryFunctionId(d.id));
        for (const other of others) {
          expect((resources[other] as Resource).Properties.Role).not.toEqual(
            consumer(destinationId).Properties.Role,
          );
        }
      },
    );

    it('has no STS, Secrets Manager, SQS or DynamoDB permission on a wildcard resource anywhere in the stack', () => {
      const guarded = /^(sts|secretsmanager|sqs|dynamodb):/;
      for (const p of queries.allPermissions().filter((p) => guarded.test(p.action))) {
        expect(p.action, 'no wildcard action').not.toContain('*');
        expect(JSON.stringify(p.resource), `${p.action} on ${JSON.stringify(p.resource)}`).not.toContain('*');
      }
    });
  });

  // Builds stacks without synthesizing them: construction itself refuses the config.
  describe('environment size', () => {
    const withEventTypes = (count: number) => {
      const [seedS3, ...rest] = SEED_CONFIG_INPUT.destinations ?? [];
      const eventTypes = Array.from({ length: count }, (_, i) => `order.line-item.${'x'.repeat(40)}.${i}`);
      return parseConfig({ ...SEED_CONFIG_INPUT, destinations: [{ ...seedS3, eventTypes }, ...rest] });
    };

    it("refuses a destination whose config entry would overflow the consumer's 4 KB environment, naming it", () => {
      expect(() => new PushrailStack(testApp(), STACK_NAME, { config: withEventTypes(100) })).toThrow(
        /^destination acme-s3-archive: .* over Lambda's 4096-byte limit; .*shorten eventTypes/,
      );
    });

    it('accepts a destination with a realistic event type filter', () => {
      expect(() => new PushrailStack(testApp(), STACK_NAME, { config: withEventTypes(20) })).not.toThrow();
    });
  });
});
