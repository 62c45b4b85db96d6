import { beforeAll, describe, expect, it } from 'vitest';
import { createManagementHandler } from '../../lambdas/control/handler.js';
import { MANAGEMENT_ROUTES } from '../../lambdas/control/routes.js';
import { MANAGEMENT_ENV } from '../../lambdas/core/function-env.js';
import { DESTINATION_TYPES, KINDS } from '../../lambdas/destinations/index.js';
import { call, MemoryAudit, MemorySecrets, MemoryStore } from '../support/management.js';
import { synthStack } from './fixtures.js';
import {
  arnOf,
  healthStatements,
  normalized,
  type Resource,
  regionalArn,
  sortedResources,
  TemplateQueries,
} from './template-queries.js';

const STACK_NAME = 'Pushrail';

describe('management API', () => {
  let queries: TemplateQueries;
  /** Each method of the REST API by `METHOD /path`. */
  let methods: Map<string, Resource>;
  let fnId: string;
  let fn: Resource;

  beforeAll(() => {
    queries = new TemplateQueries(synthStack({}, STACK_NAME).template);
    [fnId, fn] = queries.functionOf('pushrail-management');
    const resources = queries.resources;
    const pathOf = (id: string | undefined): string => {
      if (id === undefined) return '';
      const r = resources[id] as Resource;
      const parent = (r.Properties.ParentId as { Ref?: string }).Ref;
      return `${pathOf(parent)}/${r.Properties.PathPart as string}`;
    };
    methods = new Map(
      Object.values(resources)
        .filter((r) => r.Type === 'AWS::ApiGateway::Method')
        .map((m) => {
          const resourceId = (m.Properties.ResourceId as { Ref?: string }).Ref;
          return [`${m.Properties.HttpMethod as string} ${pathOf(resourceId)}`, m];
        }),
    );
  });

  it('has a method for every management route and POST /v1/events, and no other', () => {
    expect([...methods.keys()].sort()).toEqual(
      ['POST /v1/events', ...MANAGEMENT_ROUTES.map((r) => `${r.method} ${r.path}`)].sort(),
    );
  });

  it.each(MANAGEMENT_ROUTES.map((r) => `${r.method} ${r.path}`))(
    '%s takes IAM auth (SigV4) and no API key, through the management function',
    (route) => {
      const method = methods.get(route) as Resource;
      expect(method.Properties.AuthorizationType).toBe('AWS_IAM');
      // Absent is false: a producer's x-api-key neither opens nor is needed on these routes.
      expect(method.Properties.ApiKeyRequired ?? false).toBe(false);
      expect(JSON.stringify(method.Properties.Integration)).toContain(JSON.stringify(arnOf(fnId)));
    },
  );

  it('keeps POST /v1/events on the API key, through the ingest function', () => {
    const post = methods.get('POST /v1/events') as Resource;
    expect(post.Properties.ApiKeyRequired).toBe(true);
    expect(post.Properties.AuthorizationType).toBe('NONE');
    const [ingestId] = queries.functionOf('pushrail-ingest');
    expect(JSON.stringify(post.Properties.Integration)).toContain(JSON.stringify(arnOf(ingestId)));
  });

  it('lets API Gateway invoke the management function from these methods only, not the test console', () => {
    const permissions = Object.values(queries.resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::Permission' &&
        JSON.stringify(r.Properties.FunctionName) === JSON.stringify(arnOf(fnId)),
    );
    expect(permissions).toHaveLength(MANAGEMENT_ROUTES.length);
    for (const p of permissions) {
      expect(p.Properties.Principal).toBe('apigateway.amazonaws.com');
      expect(JSON.stringify(p.Properties.SourceArn)).toContain('DeploymentStageprod');
      expect(JSON.stringify(p.Properties.SourceArn)).not.toContain('test-invoke-stage');
    }
  });

  it('names the tables, the prefix, the account, the provisioner and the consumer of every kind in its environment', () => {
    const variables = queries.variablesOf(fn);
    const [provisionerId] = queries.functionOf('pushrail-provisioner');
    expect(variables).toMatchObject({
      [MANAGEMENT_ENV.destinationsTable]: { Ref: queries.tableId('destinations') },
      [MANAGEMENT_ENV.auditTable]: { Ref: queries.tableId('audit') },
      [MANAGEMENT_ENV.namePrefix]: STACK_NAME,
      [MANAGEMENT_ENV.vendorAccountId]: { Ref: 'AWS::AccountId' },
      [MANAGEMENT_ENV.provisionerFunction]: { Ref: provisionerId },
    });
    const json = JSON.stringify(variables[MANAGEMENT_ENV.deliveryFunctions]);
    for (const type of DESTINATION_TYPES) {
      const [consumerId] = queries.functionOf(KINDS[type].delivery.serviceName);
      expect(json).toContain(`"${type}\\":\\"`);
      expect(json).toContain(JSON.stringify(arnOf(consumerId)));
    }
  });

  it('may do exactly this: its four tables (the trace reads events and attempts), the feed index of attempts, owned secrets, and invoke the provisioner and the consumers', () => {
    const consumers = DESTINATION_TYPES.map((t) =>
      arnOf(queries.functionOf(KINDS[t].delivery.serviceName)[0]),
    );
    const statements = queries
      .statementsOf(fn)
      .map(normalized)
      .filter((s) => !s.actions.every((a) => a.startsWith('logs:')));
    expect(statements).toEqual([
      {
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Scan', 'dynamodb:UpdateItem'],
        resources: [arnOf(queries.tableId('destinations'))],
      },
      { actions: ['dynamodb:PutItem', 'dynamodb:Query'], resources: [arnOf(queries.tableId('audit'))] },
      { actions: ['dynamodb:GetItem'], resources: [arnOf(queries.tableId('events'))] },
      // The attempts table and its `feed` index only (GET /v1/deliveries), never `index/*`.
      {
        actions: ['dynamodb:Query'],
        resources: [
          arnOf(queries.tableId('attempts')),
          { 'Fn::Join': ['', [arnOf(queries.tableId('attempts')), '/index/feed']] },
        ],
      },
      ...healthStatements(queries, STACK_NAME),
      {
        actions: [
          'secretsmanager:CreateSecret',
          'secretsmanager:DescribeSecret',
          'secretsmanager:PutSecretValue',
          'secretsmanager:RestoreSecret',
        ],
        resources: [regionalArn('secretsmanager', `secret:pushrail/${STACK_NAME}/*`)],
      },
      {
        actions: ['lambda:InvokeFunction'],
        resources: sortedResources([arnOf(queries.functionOf('pushrail-provisioner')[0]), ...consumers]),
      },
    ]);
  });
});

describe('MANAGEMENT_ROUTES and the management handler agree', () => {
  const store = new MemoryStore();
  const handler = createManagementHandler(
    {
      [MANAGEMENT_ENV.destinationsTable]: 'destinations',
      [MANAGEMENT_ENV.auditTable]: 'audit',
      [MANAGEMENT_ENV.namePrefix]: STACK_NAME,
      [MANAGEMENT_ENV.vendorAccountId]: '123456789012',
      AWS_REGION: 'us-east-1',
    },
    { adapters: { store, audit: new MemoryAudit(store), secrets: new MemorySecrets() } },
  );
  const url = (path: string) =>
    path.replace('{id}', 'acme-s3-archive').replace('{eventId}', 'evt_0000000000000000000000000a');

  it.each(MANAGEMENT_ROUTES.map((r) => [r.method, r.path] as const))(
    'the handler serves %s %s (an unsigned call is 401, not the 404 of an unknown route)',
    async (method, path) => {
      const answer = await call(handler, method, url(path), { as: null });
      expect(answer.statusCode).toBe(401);
    },
  );
});
