import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseVendorSettingsText } from '../../lambdas/core/config.js';
import { FEED_INDEX } from '../../lambdas/core/deliveries-feed.js';
import { InvalidApiKeyError } from '../../lambdas/core/errors.js';
import { INGEST_ENV } from '../../lambdas/core/function-env.js';
import { INGEST_MEMORY_MB, TABLES } from '../../lambdas/core/resources.js';
import { MISSING_CREDENTIALS } from '../../lib/ingest-api.js';
import { PushrailStack } from '../../lib/pushrail-stack.js';
import { SEED_CONFIG_INPUT, SEED_SETTINGS, synthStack, testApp } from './fixtures.js';
import { arnOf, normalized, QUEUE_URL_BASE, regionalArn, TemplateQueries } from './template-queries.js';

const STACK_NAME = 'Pushrail';

/** A stack of the example's vendor settings, with bundling skipped (cdk-synth.test.ts really bundles). */
function synth(stackName = STACK_NAME): { template: Template } {
  return synthStack({}, stackName);
}

interface FunctionResource {
  Properties: {
    Role: { 'Fn::GetAtt': [string, string] };
    LoggingConfig: { LogGroup: { Ref: string } };
    Environment: { Variables: Record<string, unknown> };
  };
}

/** The ingest function (the others are tested in their own files). */
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

/** A config file with `count` valid destinations, as `cdk synth` would read it. */
function configWith(count: number): string {
  const [s3] = SEED_CONFIG_INPUT.destinations ?? [];
  return JSON.stringify({
    ...SEED_CONFIG_INPUT,
    destinations: Array.from({ length: count }, (_, i) => ({ ...s3, id: `customer-${i}` })),
  });
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
      // The only method with an API key; the management methods take IAM (management-api.test.ts).
      expect(
        Object.keys(
          template.findResources('AWS::ApiGateway::Method', { Properties: { ApiKeyRequired: true } }),
        ),
      ).toHaveLength(1);
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
      // An unsigned management call (a producer's key alone) or an unknown route: one body naming both ways in.
      const missing = byType.get('MISSING_AUTHENTICATION_TOKEN')?.ResponseTemplates['application/json'];
      expect(missing).toBe(JSON.stringify(MISSING_CREDENTIALS.toBody()));
      expect(missing).toContain('x-api-key');
      expect(missing).toContain('SigV4');
    });
  });

  describe('ingest function', () => {
    it('runs Node.js 24 on arm64 with source maps, its tables, the destinations table with the name prefix, queue URL base and retention', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: INGEST_MEMORY_MB,
        LoggingConfig: { LogFormat: 'JSON', SystemLogLevel: 'WARN' },
        Timeout: 29,
        Environment: {
          Variables: {
            NODE_OPTIONS: '--enable-source-maps',
            POWERTOOLS_SERVICE_NAME: 'pushrail-ingest',
            [INGEST_ENV.eventsTable]: { Ref: Match.stringLikeRegexp('EventsTable') },
            [INGEST_ENV.idempotencyTable]: { Ref: Match.stringLikeRegexp('IdempotencyTable') },
            [INGEST_ENV.destinationsTable]: { Ref: Match.stringLikeRegexp('DestinationsTable') },
            [INGEST_ENV.namePrefix]: STACK_NAME,
            [INGEST_ENV.queueUrlBase]: QUEUE_URL_BASE,
            [INGEST_ENV.retentionDays]: String(SEED_SETTINGS.retentionDays),
          },
        },
      });
    });

    it('routes from the destinations table: no routing table in its environment', () => {
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

    it('has a role with no managed policy, allowed SendMessage to the queues of its stack (by prefix) and a read of the destinations table', () => {
      const fn = ingestFunction(template);
      const roleId = fn.Properties.Role['Fn::GetAtt'][0];
      const role = template.toJSON().Resources[roleId] as { Properties: Record<string, unknown> };
      expect(role.Properties).not.toHaveProperty('ManagedPolicyArns');
      const queries = new TemplateQueries(template);
      const statements = queries.statementsOf(fn as never).map(normalized);
      expect(statements.filter((s) => s.actions.some((a) => a.startsWith('sqs:')))).toEqual([
        { actions: ['sqs:SendMessage'], resources: [regionalArn('sqs', `${STACK_NAME}-*`)] },
      ]);
      const destinations = arnOf(queries.tableId('destinations'));
      expect(
        statements.filter((s) => JSON.stringify(s.resources).includes(JSON.stringify(destinations))),
      ).toEqual([{ actions: ['dynamodb:GetItem', 'dynamodb:Scan'], resources: [destinations] }]);
      // Logs and tables: no wildcard; SQS: the prefix pattern above only.
      for (const s of statements.filter((s) => !s.actions.some((a) => a.startsWith('sqs:')))) {
        expect(JSON.stringify(s.resources)).not.toContain('*');
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

    it('gives the attempts table the sparse feed index of GET /v1/deliveries, projecting only what the feed answers', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        KeySchema: [
          { AttributeName: 'destinationId', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: FEED_INDEX.name,
            KeySchema: [
              { AttributeName: 'feed', KeyType: 'HASH' },
              { AttributeName: 'sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...FEED_INDEX.projected] },
          },
        ],
      });
      // The full event id list and the webhook's response body stay out of the index.
      expect(FEED_INDEX.projected).not.toContain('eventIds');
      expect(FEED_INDEX.projected).not.toContain('responseBody');
    });

    it('grants the index to the management function alone: every other grant on the attempts table is the table itself', () => {
      const indexArn = JSON.stringify({
        'Fn::Join': ['', [arnOf(new TemplateQueries(template).tableId('attempts')), '/index/feed']],
      });
      const policies = template.findResources('AWS::IAM::Policy');
      const withIndex = Object.entries(policies).filter(([, p]) => JSON.stringify(p).includes('/index/'));
      expect(withIndex).toHaveLength(1);
      const [, policy] = withIndex[0] as [string, unknown];
      expect(JSON.stringify(policy)).toContain(indexArn);
      expect(JSON.stringify(policy)).not.toContain('/index/*');
      expect(JSON.stringify(policies)).not.toContain('/index/*');
    });
  });

  describe('destinations are runtime data', () => {
    it('holds no per-destination resource: no queue and no event source mapping (the provisioner makes them)', () => {
      template.resourceCountIs('AWS::SQS::Queue', 0);
      template.resourceCountIs('AWS::SQS::QueuePolicy', 0);
      template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
    });

    it('builds the same template from a config with 0 destinations and one with 40 (bin/pushrail.ts reads the vendor settings only)', () => {
      const build = (count: number) => {
        const settings = parseVendorSettingsText(configWith(count));
        expect(settings.destinationCount).toBe(count);
        const stack = new PushrailStack(testApp(), STACK_NAME, {
          vendor: settings.vendor,
          retentionDays: settings.retentionDays,
        });
        return Template.fromStack(stack).toJSON();
      };
      const none = build(0);
      const forty = build(40);
      expect(Object.keys(forty.Resources).length).toBe(Object.keys(none.Resources).length);
      expect(forty).toEqual(none);
      expect(none).toEqual(template.toJSON());
    });

    it('says in its description how destinations get in', () => {
      expect(template.toJSON().Description).toMatch(
        /^Pushrail event delivery \(acme\); destinations are not deployed: apply them with `npx pushrail destinations apply -f/,
      );
    });
  });

  describe('outputs', () => {
    it('outputs the API URL, the API key id (not the key), the tables and the functions, and nothing per destination', () => {
      const outputs = template.findOutputs('*');
      expect(Object.keys(outputs).sort()).toEqual(
        [
          'ApiUrl',
          'HttpIngestUrl',
          'ApiKeyId',
          'AlarmTopicArn',
          'DashboardName',
          'ReplayFunctionName',
          'ProvisionerFunctionName',
          'S3BatcherFunctionName',
          'EventBridgeSenderFunctionName',
          'WebhookSenderFunctionName',
          ...Object.values(TABLES).map((t) => `${t.role.charAt(0).toUpperCase()}${t.role.slice(1)}TableName`),
        ].sort(),
      );
      template.hasOutput('ApiKeyId', {
        Value: { Ref: Match.stringLikeRegexp('ProducerKey') },
        Description: Match.stringLikeRegexp('aws apigateway get-api-key --api-key <id> --include-value'),
      });
      // The base URL without a trailing slash, so `${ApiUrl}/v1/events` is the endpoint (cli/target.ts
      // signs management calls against it too).
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
      const queries = new TemplateQueries(template);
      template.hasOutput('ProvisionerFunctionName', {
        Value: { Ref: queries.functionOf('pushrail-provisioner')[0] },
      });
      template.hasOutput('S3BatcherFunctionName', {
        Value: { Ref: queries.functionOf('pushrail-s3-batcher')[0] },
      });
    });
  });

  describe('naming', () => {
    it('prefixes the runtime queue and secret patterns with the stack name, so two stacks in one account do not collide', () => {
      const staging = new TemplateQueries(synth('PushrailStaging').template);
      const [, ingest] = staging.functionOf('pushrail-ingest');
      expect(staging.variablesOf(ingest)[INGEST_ENV.namePrefix]).toBe('PushrailStaging');
      const sqs = staging
        .statementsOf(ingest)
        .map(normalized)
        .find((s) => s.actions.includes('sqs:SendMessage'));
      expect(sqs?.resources).toEqual([regionalArn('sqs', 'PushrailStaging-*')]);
    });

    it('rejects a stack name too long to prefix queue names, naming the rule', () => {
      expect(() => synth('P'.repeat(36))).toThrow(/name prefix "P{36}" must be 1-35 letters/);
    });
  });
});
