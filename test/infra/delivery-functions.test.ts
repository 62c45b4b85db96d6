import { beforeAll, describe, expect, it } from 'vitest';
import { DELIVERY_ENV, tableDeliveryEnvironment } from '../../lambdas/core/function-env.js';
import type { TABLES } from '../../lambdas/core/resources.js';
import { DESTINATION_TYPES, KINDS } from '../../lambdas/destinations/index.js';
import { PushrailStack } from '../../lib/pushrail-stack.js';
import { SEED_SETTINGS, synthStack, testApp } from './fixtures.js';
import {
  ANY_ROLE,
  arnOf,
  normalized,
  type Resource,
  regionalArn,
  TemplateQueries,
} from './template-queries.js';

const STACK_NAME = 'Pushrail';
const QUEUES = regionalArn('sqs', `${STACK_NAME}-*`);
const DLQS = regionalArn('sqs', `${STACK_NAME}-*-dlq`);
const OWNED_SECRETS = regionalArn('secretsmanager', `secret:pushrail/${STACK_NAME}/*`);

describe('destination consumers (one per kind)', () => {
  let queries: TemplateQueries;

  beforeAll(() => {
    queries = new TemplateQueries(synthStack({}, STACK_NAME).template);
  });

  const consumer = (type: keyof typeof KINDS): Resource =>
    queries.functionOf(KINDS[type].delivery.serviceName)[1];
  const tableArn = (role: keyof typeof TABLES) => arnOf(queries.tableId(role));

  it('has exactly one consumer function per kind of the registry, and no event source mapping or queue', () => {
    for (const type of DESTINATION_TYPES) expect(consumer(type)).toBeDefined();
    const services = Object.values(queries.resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function')
      .map((r) => queries.variablesOf(r)?.POWERTOOLS_SERVICE_NAME);
    for (const type of DESTINATION_TYPES) {
      expect(services.filter((s) => s === KINDS[type].delivery.serviceName)).toHaveLength(1);
    }
    expect(
      Object.values(queries.resources).filter((r) => r.Type === 'AWS::Lambda::EventSourceMapping'),
    ).toEqual([]);
    expect(Object.values(queries.resources).filter((r) => r.Type === 'AWS::SQS::Queue')).toEqual([]);
  });

  it.each(DESTINATION_TYPES)(
    'runs the %s consumer on Node.js 24 / arm64 with the timeout and memory of its kind, under a generated name',
    (type) => {
      const { delivery } = KINDS[type];
      const fn = consumer(type).Properties;
      expect(fn).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Timeout: delivery.timeoutSeconds,
        MemorySize: delivery.memoryMb,
      });
      expect(fn).not.toHaveProperty('FunctionName');
      const logGroup = (fn.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(queries.resources[logGroup]).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: { RetentionInDays: 30 },
      });
    },
  );

  it.each(DESTINATION_TYPES)(
    'hands the %s consumer the table environment: destinations table, name prefix, tables, vendor and retention, and no fixed destination',
    (type) => {
      const variables = queries.variablesOf(consumer(type));
      expect(variables).toEqual({
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: KINDS[type].delivery.serviceName,
        ...tableDeliveryEnvironment({
          destinationsTable: { Ref: queries.tableId('destinations') } as unknown as string,
          namePrefix: STACK_NAME,
          vendor: SEED_SETTINGS.vendor,
          eventsTable: { Ref: queries.tableId('events') } as unknown as string,
          sealsTable: { Ref: queries.tableId('seals') } as unknown as string,
          attemptsTable: { Ref: queries.tableId('attempts') } as unknown as string,
          retentionDays: SEED_SETTINGS.retentionDays,
          ...(KINDS[type].delivery.customerAccess === 'HTTPS'
            ? { auditTable: { Ref: queries.tableId('audit') } as unknown as string }
            : {}),
        }),
      });
      // The local runtime's switch (loopback webhooks) is never set in the stack.
      expect(variables).not.toHaveProperty(DELIVERY_ENV.localRuntime);
      for (const fixed of [DELIVERY_ENV.destination, DELIVERY_ENV.sourceQueueUrl, DELIVERY_ENV.dlqUrl]) {
        expect(variables).not.toHaveProperty(fixed);
      }
    },
  );

  describe('IAM', () => {
    /** Every statement but the log group's, which PushrailFunction tests cover. */
    const statements = (type: keyof typeof KINDS) =>
      queries
        .statementsOf(consumer(type))
        .map(normalized)
        .filter((s) => !s.actions.every((a) => a.startsWith('logs:')));

    const expected = (type: keyof typeof KINDS, secrets: unknown[] = [OWNED_SECRETS]) => {
      const { delivery } = KINDS[type];
      return [
        ...(delivery.readsStoredEvents
          ? [{ actions: ['dynamodb:BatchGetItem', 'dynamodb:GetItem'], resources: [tableArn('events')] }]
          : []),
        {
          actions: ['dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          resources: [tableArn('attempts')],
        },
        ...(delivery.usesSeals
          ? [
              {
                actions: [
                  'dynamodb:BatchGetItem',
                  'dynamodb:DeleteItem',
                  'dynamodb:GetItem',
                  'dynamodb:PutItem',
                  'dynamodb:UpdateItem',
                ],
                resources: [tableArn('seals')],
              },
            ]
          : []),
        // The destination source reads one destination and the catalog version: GetItem only.
        {
          actions:
            delivery.customerAccess === 'HTTPS'
              ? ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']
              : ['dynamodb:GetItem'],
          resources: [tableArn('destinations')],
        },
        // An HTTPS kind pauses its destination itself (a webhook's 410), with an audit entry.
        ...(delivery.customerAccess === 'HTTPS'
          ? [{ actions: ['dynamodb:PutItem'], resources: [tableArn('audit')] }]
          : []),
        {
          actions: [
            'sqs:ChangeMessageVisibility',
            'sqs:DeleteMessage',
            'sqs:GetQueueAttributes',
            'sqs:ReceiveMessage',
          ],
          resources: [QUEUES],
        },
        { actions: ['sqs:SendMessage'], resources: [DLQS] },
        { actions: ['secretsmanager:GetSecretValue'], resources: secrets },
        ...(delivery.customerAccess === 'AWS'
          ? [{ actions: ['sts:AssumeRole'], resources: [ANY_ROLE] }]
          : []),
      ];
    };

    it('lets the webhook sender read only its own secrets (the owned prefix), and assume no role', () => {
      const all = statements('WEBHOOK');
      const secrets = all.filter((s) => s.actions.some((a) => a.startsWith('secretsmanager:')));
      expect(secrets).toEqual([{ actions: ['secretsmanager:GetSecretValue'], resources: [OWNED_SECRETS] }]);
      expect(all.flatMap((s) => s.actions)).not.toContain('sts:AssumeRole');
    });

    it.each(DESTINATION_TYPES)(
      'allows the %s consumer exactly: its tables, the stack queues by prefix, SendMessage to the DLQs only, owned secrets, AssumeRole',
      (type) => {
        expect(statements(type)).toEqual(expected(type));
      },
    );

    it('lets the S3 batcher use the events and seals tables, and the EventBridge sender neither', () => {
      const tablesOf = (type: keyof typeof KINDS) =>
        statements(type)
          .filter((s) => s.actions.some((a) => a.startsWith('dynamodb:')))
          .flatMap((s) => s.resources.map((r) => JSON.stringify(r)));
      expect(tablesOf('S3')).toEqual(
        expect.arrayContaining([JSON.stringify(tableArn('events')), JSON.stringify(tableArn('seals'))]),
      );
      expect(tablesOf('EVENTBRIDGE')).not.toContain(JSON.stringify(tableArn('events')));
      expect(tablesOf('EVENTBRIDGE')).not.toContain(JSON.stringify(tableArn('seals')));
    });

    it('adds the customer secrets pattern to GetSecretValue, and nothing else, when the stack is given one', () => {
      const pattern = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:customers/pushrail/*';
      const custom = new TemplateQueries(
        synthStack({ customerSecretsArnPattern: pattern }, STACK_NAME).template,
      );
      for (const type of DESTINATION_TYPES) {
        const [, fn] = custom.functionOf(KINDS[type].delivery.serviceName);
        const secrets = custom
          .statementsOf(fn)
          .map(normalized)
          .filter((s) => s.actions.some((a) => a.startsWith('secretsmanager:')));
        expect(secrets).toHaveLength(1);
        expect(secrets[0]?.actions).toEqual(['secretsmanager:GetSecretValue']);
        // In either order: CDK sorts a statement's resources.
        expect(secrets[0]?.resources).toHaveLength(2);
        expect(secrets[0]?.resources).toEqual(expect.arrayContaining([OWNED_SECRETS, pattern]));
      }
    });

    it.each([
      '*',
      'arn:aws:secretsmanager:us-east-1:123456789012:secret:*',
      'arn:aws:secretsmanager:us-east-1:*:secret:customers/*',
      'arn:aws:secretsmanager:us-east-1:123456789012:secret:cust*omers/*',
      'arn:aws:s3:::bucket/*',
    ])('refuses the customer secrets pattern %s (every secret, any account, or not a secret)', (pattern) => {
      expect(
        () =>
          new PushrailStack(testApp(), STACK_NAME, { ...SEED_SETTINGS, customerSecretsArnPattern: pattern }),
      ).toThrow(/customerSecretsArnPattern .* must be a Secrets Manager ARN of one account/);
    });

    it('gives each consumer a role of its own with no managed policy, and no S3, EventBridge or KMS permission', () => {
      const roles = DESTINATION_TYPES.map(
        (type) => (consumer(type).Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0],
      );
      expect(new Set(roles).size).toBe(roles.length);
      for (const [i, type] of DESTINATION_TYPES.entries()) {
        const role = queries.resources[roles[i] as string] as Resource;
        expect(role.Type).toBe('AWS::IAM::Role');
        expect(role.Properties).not.toHaveProperty('ManagedPolicyArns');
        const actions = queries.permissionsOf(consumer(type)).map((p) => p.action);
        expect(
          actions.filter((a) => /^(s3|events|kms):/.test(a)),
          type,
        ).toEqual([]);
      }
    });
  });
});
