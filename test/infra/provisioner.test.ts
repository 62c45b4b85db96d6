import { beforeAll, describe, expect, it } from 'vitest';
import { PROVISIONER_ENV } from '../../lambdas/core/function-env.js';
import { DESTINATION_TYPES, KINDS } from '../../lambdas/destinations/index.js';
import { synthStack } from './fixtures.js';
import {
  arnOf,
  healthStatements,
  normalized,
  type Resource,
  regionalArn,
  TemplateQueries,
} from './template-queries.js';

const STACK_NAME = 'Pushrail';

interface WithDependsOn extends Resource {
  readonly DependsOn?: string[];
}

describe('provisioner', () => {
  let queries: TemplateQueries;
  let fnId: string;
  let fn: Resource;
  let consumerIds: string[];

  beforeAll(() => {
    queries = new TemplateQueries(synthStack({}, STACK_NAME).template);
    [fnId, fn] = queries.functionOf('pushrail-provisioner');
    consumerIds = DESTINATION_TYPES.map((t) => queries.functionOf(KINDS[t].delivery.serviceName)[0]);
  });

  const ofType = (type: string) => Object.entries(queries.resources).filter(([, r]) => r.Type === type);

  it('runs the provisioner entry with reserved concurrency 1 (its pacing holds across invocations) and a 15-minute timeout', () => {
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      ReservedConcurrentExecutions: 1,
      Timeout: 900,
    });
  });

  it('gets the destinations table, the name prefix and the consumer ARN of every kind', () => {
    const variables = queries.variablesOf(fn);
    expect(variables[PROVISIONER_ENV.destinationsTable]).toEqual({ Ref: queries.tableId('destinations') });
    expect(variables[PROVISIONER_ENV.namePrefix]).toBe(STACK_NAME);
    expect(variables).not.toHaveProperty(PROVISIONER_ENV.mappingCallsPerSecond); // its default, 10/s
    // {"S3": <arn>, "EVENTBRIDGE": <arn>} as a Fn::Join of the JSON around the ARNs.
    const json = JSON.stringify(variables[PROVISIONER_ENV.deliveryFunctions]);
    for (const [i, type] of DESTINATION_TYPES.entries()) {
      expect(json).toContain(`"${type}\\":\\"`);
      expect(json).toContain(JSON.stringify(arnOf(consumerIds[i] as string)));
    }
  });

  it('may do exactly this: the stack queues by prefix, the destinations table, owned secrets, mappings onto the consumers only', () => {
    const onConsumers = {
      StringEquals: { 'lambda:FunctionArn': consumerIds.map((id) => arnOf(id)) },
    };
    const statements = queries
      .statementsOf(fn)
      .map(normalized)
      .filter((s) => !s.actions.every((a) => a.startsWith('logs:')));
    expect(statements).toEqual([
      {
        actions: [
          'sqs:ChangeMessageVisibility',
          'sqs:CreateQueue',
          'sqs:DeleteMessage',
          'sqs:DeleteQueue',
          'sqs:GetQueueAttributes',
          'sqs:GetQueueUrl',
          'sqs:ListQueueTags',
          'sqs:ReceiveMessage',
          'sqs:SendMessage',
          'sqs:SetQueueAttributes',
          'sqs:TagQueue',
        ],
        resources: [regionalArn('sqs', `${STACK_NAME}-*`)],
      },
      {
        actions: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:UpdateItem'],
        resources: [arnOf(queries.tableId('destinations'))],
      },
      // The queue-age alarm of each destination (core/queue-age-alarm.ts), by its name pattern.
      {
        actions: ['cloudwatch:DeleteAlarms', 'cloudwatch:PutMetricAlarm'],
        resources: [regionalArn('cloudwatch', `alarm:${STACK_NAME}-*-queue-age`)],
      },
      // The scheduled run evaluates health and announces changes (lib/health-permissions.ts). IAM
      // merges its GetQueueAttributes into the queue statement above and GetMetricData into the
      // resource-less one below.
      ...healthStatements(queries, STACK_NAME).filter((_, i) => i === 0),
      {
        actions: ['cloudwatch:GetMetricData', 'lambda:ListEventSourceMappings', 'sqs:ListQueues'],
        resources: ['*'],
      },
      ...healthStatements(queries, STACK_NAME).filter((_, i) => i === 3),
      {
        actions: ['secretsmanager:DeleteSecret', 'secretsmanager:DescribeSecret'],
        resources: [regionalArn('secretsmanager', `secret:pushrail/${STACK_NAME}/*`)],
      },
      // CreateEventSourceMapping takes no resource: only the condition narrows it.
      { actions: ['lambda:CreateEventSourceMapping'], resources: ['*'], condition: onConsumers },
      {
        actions: [
          'lambda:DeleteEventSourceMapping',
          'lambda:GetEventSourceMapping',
          'lambda:UpdateEventSourceMapping',
        ],
        resources: [regionalArn('lambda', 'event-source-mapping:*')],
        condition: onConsumers,
      },
    ]);
  });

  it('is invoked every 5 minutes by an EventBridge rule with the scheduled event itself, and no retry', () => {
    const rules = ofType('AWS::Events::Rule');
    expect(rules).toHaveLength(1);
    const [ruleId, rule] = rules[0] as [string, Resource];
    expect(rule.Properties).toMatchObject({
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [{ Arn: arnOf(fnId), RetryPolicy: { MaximumRetryAttempts: 0 } }],
    });
    expect((rule.Properties.Targets as Record<string, unknown>[])[0]).not.toHaveProperty('Input');
    const permissions = ofType('AWS::Lambda::Permission').filter(
      ([, p]) => JSON.stringify(p.Properties.SourceArn) === JSON.stringify(arnOf(ruleId)),
    );
    expect(permissions.map(([, p]) => p.Properties)).toEqual([
      expect.objectContaining({
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: arnOf(fnId),
      }),
    ]);
  });

  describe('teardown at cdk destroy', () => {
    const teardown = (): [string, WithDependsOn] => {
      const found = ofType('Custom::PushrailTeardown');
      expect(found).toHaveLength(1);
      return found[0] as [string, WithDependsOn];
    };

    it('is a custom resource served by a provider framework whose onEvent handler is the provisioner', () => {
      const [, resource] = teardown();
      const token = resource.Properties.ServiceToken as { 'Fn::GetAtt': [string, string] };
      const framework = queries.resources[token['Fn::GetAtt'][0]] as Resource;
      expect(framework.Type).toBe('AWS::Lambda::Function');
      expect(JSON.stringify(framework.Properties.Environment)).toContain(JSON.stringify(arnOf(fnId)));
      expect(resource.Properties.NamePrefix).toBe(STACK_NAME);
      const frameworkRole = queries.resources[
        (framework.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]
      ] as Resource;
      expect(frameworkRole.Properties).not.toHaveProperty('ManagedPolicyArns');
      expect((framework.Properties.LoggingConfig as { LogGroup: unknown }).LogGroup).toBeDefined();
    });

    it('is deleted before what the teardown needs: the provisioner with its role and policy, and every consumer', () => {
      const [, resource] = teardown();
      const dependsOn = resource.DependsOn ?? [];
      const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const policyId = ofType('AWS::IAM::Policy').find(([, p]) =>
        JSON.stringify(p.Properties.Roles).includes(roleId),
      )?.[0];
      expect(dependsOn).toEqual(expect.arrayContaining([fnId, roleId, policyId, ...consumerIds]));
    });

    it('runs after the schedule and the management function are gone, so nothing gives the provisioner new work behind it', () => {
      const [teardownId] = teardown();
      const [ruleId, rule] = ofType('AWS::Events::Rule')[0] as [string, WithDependsOn];
      expect(rule.DependsOn, ruleId).toContain(teardownId);
      const [managementId, management] = queries.functionOf('pushrail-management') as [string, WithDependsOn];
      expect((management as WithDependsOn).DependsOn, managementId).toContain(teardownId);
    });
  });
});
