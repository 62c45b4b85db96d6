import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeDestinationList, REPLAY_ENV } from '../../lambdas/core/function-env.js';
import { queueNames, type TABLES } from '../../lambdas/core/resources.js';
import { EXTENDED_CONFIG as config, synthStack } from './fixtures.js';
import {
  arnOf,
  type Permission,
  QUEUE_URL_BASE,
  type Resource,
  TemplateQueries,
} from './template-queries.js';

const STACK_NAME = 'Pushrail';

const pair = (p: Permission) => `${p.action} on ${JSON.stringify(p.resource)}`;

describe('replay function', () => {
  let template: Template;
  let queries: TemplateQueries;
  let resources: Record<string, Resource>;
  let fnId: string;
  let fn: Resource;

  beforeAll(() => {
    template = synthStack(config, STACK_NAME).template;
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

  const queueId = (name: string) => queries.queueId(name);
  const tableId = (role: keyof typeof TABLES) => queries.tableId(role);
  const roleId = (): string => (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  /** Every (action, resource) pair the function's role is allowed, as `action on resource`. */
  const permissions = (): string[] => queries.permissionsOf(fn).map(pair);

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

  it('gets the tables, the queue URL base, the stack name as name prefix and every destination with its type', () => {
    expect((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'pushrail-replay',
      [REPLAY_ENV.eventsTable]: { Ref: tableId('events') },
      [REPLAY_ENV.attemptsTable]: { Ref: tableId('attempts') },
      [REPLAY_ENV.queueUrlBase]: QUEUE_URL_BASE,
      [REPLAY_ENV.namePrefix]: STACK_NAME,
      [REPLAY_ENV.destinations]: encodeDestinationList(config.destinations),
      [REPLAY_ENV.retentionDays]: String(config.retentionDays),
    });
    expect(encodeDestinationList(config.destinations)).toBe(
      'acme-s3-archive:S3,acme-eventbridge:EVENTBRIDGE,acme-s3-keys:S3,acme-eventbridge-fast:EVENTBRIDGE,acme-eventbridge-keys:EVENTBRIDGE',
    );
  });

  it('takes its name prefix from the stack name, so it finds the queues of its own stack', () => {
    const staging = synthStack(config, 'PushrailStaging').template;
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

  it('may receive, delete and re-hide on every DLQ, send to every destination queue, and nothing else on SQS', () => {
    const expected = config.destinations.flatMap((d) => {
      const names = queueNames(STACK_NAME, d.id);
      return [
        ...['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'].map((a) =>
          pair({ action: a, resource: arnOf(queueId(names.dlq)) }),
        ),
        pair({ action: 'sqs:SendMessage', resource: arnOf(queueId(names.queue)) }),
      ];
    });
    const sqs = permissions().filter((p) => p.startsWith('sqs:'));
    expect(sqs.sort()).toEqual(expected.sort());
  });

  it('may BatchGetItem and Scan the events table, GetItem and PutItem the attempts table, and nothing else on DynamoDB', () => {
    const events = arnOf(tableId('events'));
    const attempts = arnOf(tableId('attempts'));
    const dynamodb = permissions().filter((p) => p.startsWith('dynamodb:'));
    expect(dynamodb.sort()).toEqual(
      [
        pair({ action: 'dynamodb:BatchGetItem', resource: events }),
        pair({ action: 'dynamodb:Scan', resource: events }),
        pair({ action: 'dynamodb:GetItem', resource: attempts }),
        pair({ action: 'dynamodb:PutItem', resource: attempts }),
      ].sort(),
    );
  });

  it('has a role of its own with no managed policy, no other service than SQS, DynamoDB and its logs, and no wildcard', () => {
    expect(resources[roleId()]?.Type).toBe('AWS::IAM::Role');
    expect(resources[roleId()]?.Properties).not.toHaveProperty('ManagedPolicyArns');
    expect(resources[roleId()]?.Properties).not.toHaveProperty('Policies');
    const all = permissions();
    const services = new Set(all.map((p) => p.slice(0, p.indexOf(':'))));
    expect([...services].sort()).toEqual(['dynamodb', 'logs', 'sqs']);
    for (const p of all) expect(p, 'no wildcard action or resource').not.toContain('*');
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
