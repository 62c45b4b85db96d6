import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPLAY_ENV } from '../../lambdas/core/function-env.js';
import type { TABLES } from '../../lambdas/core/resources.js';
import { synthStack } from './fixtures.js';
import {
  arnOf,
  normalized,
  QUEUE_URL_BASE,
  type Resource,
  regionalArn,
  TemplateQueries,
} from './template-queries.js';

const STACK_NAME = 'Pushrail';

describe('replay function', () => {
  let template: Template;
  let queries: TemplateQueries;
  let resources: Record<string, Resource>;
  let fnId: string;
  let fn: Resource;

  beforeAll(() => {
    template = synthStack({}, STACK_NAME).template;
    queries = new TemplateQueries(template);
    resources = queries.resources;
    fnId = queries.logicalIdOf(
      'AWS::Lambda::Function',
      (r) =>
        (r.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
          ?.POWERTOOLS_SERVICE_NAME === 'pushrail-replay',
      'the replay function',
    );
    fn = resources[fnId] as Resource;
  });

  const tableId = (role: keyof typeof TABLES) => queries.tableId(role);
  const roleId = (): string => (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  /** Every (action, resource) pair the function's role is allowed, as `action on resource`. */
  const permissions = (): string[] =>
    queries.permissionsOf(fn).map((p) => `${p.action} on ${JSON.stringify(p.resource)}`);

  it('is one function on Node.js 24 / arm64, with a 15-minute timeout and 512 MB, logging to its own log group with retention', () => {
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 900,
      MemorySize: 512,
    });
    expect(fn.Properties).not.toHaveProperty('FunctionName');
    const logGroup = (fn.Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
    expect(resources[logGroup]).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 30 },
    });
  });

  it('gets its tables (the destinations and audit tables among them), the queue URL base and the stack name as name prefix, and no destination list', () => {
    expect(queries.variablesOf(fn)).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'pushrail-replay',
      [REPLAY_ENV.eventsTable]: { Ref: tableId('events') },
      [REPLAY_ENV.attemptsTable]: { Ref: tableId('attempts') },
      [REPLAY_ENV.destinationsTable]: { Ref: tableId('destinations') },
      [REPLAY_ENV.auditTable]: { Ref: tableId('audit') },
      [REPLAY_ENV.queueUrlBase]: QUEUE_URL_BASE,
      [REPLAY_ENV.namePrefix]: STACK_NAME,
      [REPLAY_ENV.retentionDays]: '30',
    });
  });

  it('takes its name prefix from the stack name, so it finds the queues of its own stack', () => {
    const staging = synthStack({}, 'PushrailStaging').template;
    const functions = Object.values(
      staging.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: 'pushrail-replay' } } },
      }),
    ) as Resource[];
    expect(functions).toHaveLength(1);
    const [only] = functions as [Resource];
    const variables = (only.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables[REPLAY_ENV.namePrefix]).toBe('PushrailStaging');
  });

  it('may do exactly this: move out of the DLQs and send to the queues of its stack (by prefix), and read and write its tables', () => {
    const table = (role: keyof typeof TABLES) => arnOf(tableId(role));
    const statements = queries
      .statementsOf(fn)
      .map(normalized)
      .filter((s) => !s.actions.every((a) => a.startsWith('logs:')));
    expect(statements).toEqual([
      { actions: ['dynamodb:BatchGetItem', 'dynamodb:Scan'], resources: [table('events')] },
      {
        actions: ['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [table('attempts')],
      },
      { actions: ['dynamodb:GetItem', 'dynamodb:Scan'], resources: [table('destinations')] },
      { actions: ['dynamodb:PutItem'], resources: [table('audit')] },
      {
        actions: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:ReceiveMessage'],
        resources: [regionalArn('sqs', `${STACK_NAME}-*-dlq`)],
      },
      { actions: ['sqs:SendMessage'], resources: [regionalArn('sqs', `${STACK_NAME}-*`)] },
    ]);
  });

  it('has a role of its own with no managed policy, and no other service than SQS, DynamoDB and its logs', () => {
    expect(resources[roleId()]?.Type).toBe('AWS::IAM::Role');
    expect(resources[roleId()]?.Properties).not.toHaveProperty('ManagedPolicyArns');
    expect(resources[roleId()]?.Properties).not.toHaveProperty('Policies');
    const all = permissions();
    const services = new Set(all.map((p) => p.slice(0, p.indexOf(':'))));
    expect([...services].sort()).toEqual(['dynamodb', 'logs', 'sqs']);
    // The only wildcards are the queue-name patterns.
    for (const p of all) {
      if (p.startsWith('sqs:')) continue;
      expect(p, 'no wildcard action or resource').not.toContain('*');
    }
  });

  it('is the only function the replay construct adds, with no trigger: on-call invokes it directly', () => {
    const mappings = template.findResources('AWS::Lambda::EventSourceMapping', {
      Properties: { FunctionName: { Ref: fnId } },
    });
    expect(Object.keys(mappings)).toEqual([]);
    expect(Object.keys(template.findResources('AWS::Lambda::Url'))).toEqual([]);
    const permissionsToInvoke = template.findResources('AWS::Lambda::Permission', {
      Properties: { FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] } },
    });
    expect(Object.keys(permissionsToInvoke)).toEqual([]);
  });

  it('outputs its name as ReplayFunctionName, for `npx pushrail replay --stack` and `aws lambda invoke`', () => {
    template.hasOutput('ReplayFunctionName', { Value: { Ref: fnId } });
  });
});
