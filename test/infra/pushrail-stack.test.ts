import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidApiKeyError } from '../../lambdas/core/errors.js';
import { INGEST_ENV } from '../../lambdas/core/function-env.js';
import { QUEUE_SETTINGS, queueNames, TABLES } from '../../lambdas/core/resources.js';
import { deliverySettings } from '../../lambdas/destinations/index.js';
import { SEED_CONFIG as config, synthStack } from './fixtures.js';
import { QUEUE_URL_BASE } from './template-queries.js';

const STACK_NAME = 'Pushrail';

/** A stack from the example config, with bundling skipped (cdk-synth.test.ts really bundles). */
function synth(stackName = STACK_NAME): { template: Template } {
  return synthStack(config, stackName);
}

interface FunctionResource {
  Properties: {
    Role: { 'Fn::GetAtt': [string, string] };
    LoggingConfig: { LogGroup: { Ref: string } };
    Environment: { Variables: Record<string, unknown> };
  };
}

/** The ingest function (the consumers are tested in destination-consumers.test.ts). */
function ingestFunction(template: Template): FunctionResource {
  const found = Object.values(
    template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'pushrail-ingest' } } },
    }),
  );
  expect(found).toHaveLength(1);
  return found[0] as FunctionResource;
}

/** The logical id of the one resource of `type` whose properties match. */
function logicalId(template: Template, type: string, properties: Record<string, unknown>): string {
  const found = Object.keys(template.findResources(type, { Properties: properties }));
  expect(found, `${type} matching ${JSON.stringify(properties)}`).toHaveLength(1);
  return found[0] as string;
}

describe('PushrailStack', () => {
  let template: Template;
  beforeAll(() => {
    template = synth().template;
  });

  describe('ingest API', () => {
    it('exposes POST /v1/events with an API key required, through a Lambda proxy integration', () => {
      const v1 = logicalId(template, 'AWS::ApiGateway::Resource', { PathPart: 'v1' });
      const events = logicalId(template, 'AWS::ApiGateway::Resource', {
        PathPart: 'events',
        ParentId: { Ref: v1 },
      });
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: 'POST',
        ResourceId: { Ref: events },
        ApiKeyRequired: true,
        Integration: { Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' },
      });
      // The only method: nothing else is reachable without a key.
      template.resourceCountIs('AWS::ApiGateway::Method', 1);
      template.hasResourceProperties('AWS::ApiGateway::RestApi', {
        EndpointConfiguration: { Types: ['REGIONAL'] },
      });
    });

    it('sets no binary media types (base64 would shrink the 5 MiB body limit) and no response compression', () => {
      // API Gateway decompresses gzip/deflate requests without a setting; see lib/ingest-api.ts.
      template.hasResourceProperties('AWS::ApiGateway::RestApi', {
        BinaryMediaTypes: Match.absent(),
        MinimumCompressionSize: Match.absent(),
      });
    });

    it('has one API key attached to a usage plan that throttles it on the deployed stage', () => {
      template.resourceCountIs('AWS::ApiGateway::ApiKey', 1);
      template.resourceCountIs('AWS::ApiGateway::UsagePlan', 1);
      const stage = logicalId(template, 'AWS::ApiGateway::Stage', { StageName: 'prod' });
      const plan = logicalId(template, 'AWS::ApiGateway::UsagePlan', {
        Throttle: { RateLimit: 100, BurstLimit: 200 },
        ApiStages: [Match.objectLike({ Stage: { Ref: stage } })],
      });
      const key = Object.keys(template.findResources('AWS::ApiGateway::ApiKey'))[0];
      template.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', {
        KeyId: { Ref: key },
        KeyType: 'API_KEY',
        UsagePlanId: { Ref: plan },
      });
    });

    it('logs access in JSON to a log group with retention, and execution errors without bodies', () => {
      const stages = template.findResources('AWS::ApiGateway::Stage');
      const stage = Object.values(stages)[0] as {
        Properties: {
          AccessLogSetting: { Format: string; DestinationArn: { 'Fn::GetAtt': [string, string] } };
          MethodSettings: unknown[];
        };
      };
      const format = JSON.parse(stage.Properties.AccessLogSetting.Format) as Record<string, string>;
      expect(format).toMatchObject({
        requestId: '$context.requestId',
        apiKeyId: '$context.identity.apiKeyId',
        status: '$context.status',
      });
      const logGroupId = stage.Properties.AccessLogSetting.DestinationArn['Fn::GetAtt'][0];
      expect(template.toJSON().Resources[logGroupId]).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: { RetentionInDays: 30 },
      });
      expect(stage.Properties.MethodSettings).toEqual([
        expect.objectContaining({
          HttpMethod: '*',
          ResourcePath: '/*',
          LoggingLevel: 'ERROR',
          DataTraceEnabled: false,
        }),
      ]);
      template.hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: { 'Fn::Join': ['', ['API-Gateway-Execution-Logs_', Match.anyValue(), '/prod']] },
        RetentionInDays: 30,
      });
    });

    it('answers API Gateway errors as JSON in the error shape, with the statuses of the contract', () => {
      const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse')).map(
        (r) =>
          (
            r as {
              Properties: {
                ResponseType: string;
                StatusCode?: string;
                ResponseTemplates: Record<string, string>;
                ResponseParameters: Record<string, string>;
              };
            }
          ).Properties,
      );
      const byType = new Map(responses.map((p) => [p.ResponseType, p]));
      const expectedStatus: Record<string, string | undefined> = {
        INVALID_API_KEY: '403',
        MISSING_AUTHENTICATION_TOKEN: '403',
        REQUEST_TOO_LARGE: '413',
        UNSUPPORTED_MEDIA_TYPE: '415',
        THROTTLED: '429',
        QUOTA_EXCEEDED: '429',
        DEFAULT_5XX: undefined, // keeps API Gateway's own 5xx status
        DEFAULT_4XX: undefined,
      };
      expect([...byType.keys()].sort()).toEqual(Object.keys(expectedStatus).sort());

      for (const [type, status] of Object.entries(expectedStatus)) {
        const response = byType.get(type);
        expect(response?.StatusCode, type).toBe(status);
        expect(response?.ResponseParameters['gatewayresponse.header.Content-Type']).toBe(
          "'application/json'",
        );
        // VTL: $context.error.messageString is replaced by a JSON string at run time.
        const template = response?.ResponseTemplates['application/json'] ?? '';
        const body = JSON.parse(template.replaceAll('$context.error.messageString', '"a message"')) as {
          error: { code: unknown; message: unknown; details?: { field: unknown; message: unknown }[] };
        };
        expect(typeof body.error.code, type).toBe('string');
        expect(typeof body.error.message, type).toBe('string');
        for (const detail of body.error.details ?? []) {
          expect(detail).toEqual({ field: expect.any(String), message: expect.any(String) });
        }
      }
      const invalidKeyBody = JSON.stringify(new InvalidApiKeyError().toBody());
      expect(byType.get('INVALID_API_KEY')?.ResponseTemplates['application/json']).toBe(invalidKeyBody);
      expect(byType.get('MISSING_AUTHENTICATION_TOKEN')?.ResponseTemplates['application/json']).toBe(
        invalidKeyBody,
      );
    });
  });

  describe('ingest function', () => {
    it('runs Node.js 24 on arm64 with source maps, its table names, queue URL base and retention', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: 1024,
        Timeout: 29,
        Environment: {
          Variables: {
            NODE_OPTIONS: '--enable-source-maps',
            POWERTOOLS_SERVICE_NAME: 'pushrail-ingest',
            [INGEST_ENV.eventsTable]: { Ref: Match.stringLikeRegexp('EventsTable') },
            [INGEST_ENV.idempotencyTable]: { Ref: Match.stringLikeRegexp('IdempotencyTable') },
            [INGEST_ENV.queueUrlBase]: QUEUE_URL_BASE,
            [INGEST_ENV.retentionDays]: String(config.retentionDays),
          },
        },
      });
    });

    it('keeps the routing table out of the environment (it is inlined into the bundle)', () => {
      const fn = ingestFunction(template);
      expect(fn.Properties.Environment.Variables).not.toHaveProperty(INGEST_ENV.routes);
    });

    it('logs to its own log group with a retention, not to an unbounded default one', () => {
      const fn = ingestFunction(template);
      const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref;
      expect(template.toJSON().Resources[logGroupId]).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: { RetentionInDays: 30 },
      });
      // No Custom::LogRetention Lambda: the retention is on the log group itself.
      template.resourceCountIs('Custom::LogRetention', 0);
    });

    it('has a role with no managed policy, allowed to SendMessage only to the destination queues', () => {
      const fn = ingestFunction(template);
      const roleId = fn.Properties.Role['Fn::GetAtt'][0];
      const role = template.toJSON().Resources[roleId] as { Properties: Record<string, unknown> };
      expect(role.Properties).not.toHaveProperty('ManagedPolicyArns');

      const queueArns = config.destinations.map((d) => ({
        'Fn::GetAtt': [
          logicalId(template, 'AWS::SQS::Queue', { QueueName: queueNames(STACK_NAME, d.id).queue }),
          'Arn',
        ],
      }));
      const policies = Object.values(
        template.findResources('AWS::IAM::Policy', {
          Properties: { Roles: [{ Ref: roleId }] },
        }),
      ) as {
        Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } };
      }[];
      const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
      const sqs = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('sqs:')));
      expect(sqs).toHaveLength(1);
      expect(sqs[0]?.Action).toBe('sqs:SendMessage');
      expect(sqs[0]?.Resource).toEqual(expect.arrayContaining(queueArns));
      expect([sqs[0]?.Resource].flat()).toHaveLength(queueArns.length); // no DLQ, no wildcard
      // Logs: its own log group only; tables: the two tables only.
      for (const statement of statements) {
        expect(JSON.stringify(statement.Resource)).not.toContain('"*"');
      }
    });
  });

  describe('event store', () => {
    it.each(Object.values(TABLES))(
      'creates the $role table on demand, with PITR, SSE, TTL and retention',
      (table) => {
        template.hasResource('AWS::DynamoDB::Table', {
          Properties: {
            KeySchema: [
              { AttributeName: table.partitionKey, KeyType: 'HASH' },
              ...('sortKey' in table ? [{ AttributeName: table.sortKey, KeyType: 'RANGE' }] : []),
            ],
            BillingMode: 'PAY_PER_REQUEST',
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            SSESpecification: { SSEEnabled: true },
            TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
            DeletionProtectionEnabled: true,
          },
          DeletionPolicy: 'Retain',
          UpdateReplacePolicy: 'Retain',
        });
      },
    );

    it('creates exactly the tables of the shared description', () => {
      template.resourceCountIs('AWS::DynamoDB::Table', Object.keys(TABLES).length);
    });
  });

  describe('destination queues', () => {
    it.each(config.destinations.map((d) => d.id))(
      'gives %s a named, encrypted queue that redrives to its DLQ after maxReceiveCount',
      (destinationId) => {
        const destination = config.destinations.find((d) => d.id === destinationId);
        if (!destination) throw new Error(`no destination ${destinationId}`);
        const visibilityTimeout = deliverySettings(destination).visibilityTimeoutSeconds;
        const names = queueNames(STACK_NAME, destinationId);
        const dlq = logicalId(template, 'AWS::SQS::Queue', {
          QueueName: names.dlq,
          MessageRetentionPeriod: 1_209_600,
          SqsManagedSseEnabled: true,
        });
        const queue = logicalId(template, 'AWS::SQS::Queue', {
          QueueName: names.queue,
          MessageRetentionPeriod: QUEUE_SETTINGS.retentionSeconds,
          VisibilityTimeout: visibilityTimeout,
          SqsManagedSseEnabled: true,
          RedrivePolicy: {
            deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] },
            maxReceiveCount: QUEUE_SETTINGS.maxReceiveCount,
          },
        });
        for (const id of [queue, dlq]) {
          template.hasResourceProperties('AWS::SQS::QueuePolicy', {
            Queues: [{ Ref: id }],
            PolicyDocument: {
              Statement: Match.arrayWith([
                Match.objectLike({
                  Effect: 'Deny',
                  Action: 'sqs:*',
                  Principal: { AWS: '*' },
                  Condition: { Bool: { 'aws:SecureTransport': 'false' } },
                  Resource: { 'Fn::GetAtt': [id, 'Arn'] },
                }),
              ]),
            },
          });
        }
      },
    );

    it('creates a queue and a DLQ per destination, and no others', () => {
      template.resourceCountIs('AWS::SQS::Queue', config.destinations.length * 2);
    });
  });

  describe('outputs', () => {
    it('outputs the API URL, the API key id (not the key), the tables, every queue and DLQ URL and the replay function', () => {
      const outputs = template.findOutputs('*');
      expect(Object.keys(outputs).sort()).toEqual(
        [
          'ApiUrl',
          'ApiKeyId',
          'ReplayFunctionName',
          ...Object.values(TABLES).map((t) => `${t.role.charAt(0).toUpperCase()}${t.role.slice(1)}TableName`),
          'AcmeS3ArchiveQueueUrl',
          'AcmeS3ArchiveDlqUrl',
          'AcmeEventbridgeQueueUrl',
          'AcmeEventbridgeDlqUrl',
        ].sort(),
      );
      template.hasOutput('ApiKeyId', {
        Value: { Ref: Match.stringLikeRegexp('ProducerKey') },
        Description: Match.stringLikeRegexp('aws apigateway get-api-key --api-key <id> --include-value'),
      });
      // The base URL without a trailing slash, so `${ApiUrl}/v1/events` is the endpoint.
      template.hasOutput('ApiUrl', {
        Value: {
          'Fn::Join': [
            '',
            [
              'https://',
              { Ref: Match.stringLikeRegexp('^IngestApi') },
              '.execute-api.',
              { Ref: 'AWS::Region' },
              '.',
              { Ref: 'AWS::URLSuffix' },
              '/',
              { Ref: Match.stringLikeRegexp('DeploymentStageprod') },
            ],
          ],
        },
      });
      template.hasOutput('AcmeS3ArchiveQueueUrl', {
        Value: {
          Ref: logicalId(template, 'AWS::SQS::Queue', {
            QueueName: queueNames(STACK_NAME, 'acme-s3-archive').queue,
          }),
        },
      });
    });
  });

  describe('naming', () => {
    it('prefixes queue names with the stack name, so two stacks in one account do not collide', () => {
      const staging = synth('PushrailStaging').template;
      staging.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'PushrailStaging-acme-s3-archive' });
      staging.hasResourceProperties('AWS::SQS::Queue', { QueueName: 'PushrailStaging-acme-s3-archive-dlq' });
    });

    it('rejects a stack name too long to prefix queue names, naming the rule', () => {
      expect(() => synth('P'.repeat(36))).toThrow(/name prefix "P{36}" must be 1-35 letters/);
    });
  });
});
