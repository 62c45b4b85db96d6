import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { METRIC_DIMENSIONS, METRICS_NAMESPACE } from '../../lambdas/core/metrics.js';
import { DESTINATION_TYPES, KINDS } from '../../lambdas/destinations/index.js';
import { synthStack } from './fixtures.js';

const { stack, template } = synthStack();
const resources = template.toJSON().Resources as Record<
  string,
  { Type: string; Properties: Record<string, unknown> }
>;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const alarms = ofType('AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);

describe('alarms', () => {
  const byMetric = (namespace: string, metricName: string) =>
    alarms.filter((a) => a.Namespace === namespace && a.MetricName === metricName);

  it('alarm on API 5xx and ingest throttles', () => {
    expect(byMetric('AWS/ApiGateway', '5XXError')).toHaveLength(1);
    const throttles = byMetric('AWS/Lambda', 'Throttles');
    expect(throttles).toHaveLength(1);
    expect(JSON.stringify(throttles[0]?.Dimensions)).toContain('IngestApi');
  });

  it('alarm on every consumer kind: its errors, and events moved to any of its DLQs', () => {
    const errors = byMetric('AWS/Lambda', 'Errors');
    expect(errors).toHaveLength(DESTINATION_TYPES.length);
    for (const type of DESTINATION_TYPES) {
      expect(JSON.stringify(errors)).toContain(KINDS[type].delivery.functionId);
    }
    const deadLettered = byMetric(METRICS_NAMESPACE, 'EventsDeadLettered');
    expect(deadLettered.map((a) => a.Dimensions)).toEqual(
      expect.arrayContaining(
        DESTINATION_TYPES.map((kind) =>
          expect.arrayContaining([
            { Name: 'kind', Value: kind },
            { Name: 'service', Value: 'pushrail' },
          ]),
        ),
      ),
    );
    for (const alarm of deadLettered) expect(alarm).toMatchObject({ Threshold: 0, Statistic: 'Sum' });
  });

  it('notify one encrypted SNS topic, output as AlarmTopicArn', () => {
    const topics = ofType('AWS::SNS::Topic');
    expect(topics).toHaveLength(1);
    const [topicId, topic] = topics[0] as [string, { Properties: Record<string, unknown> }];
    expect(topic.Properties.KmsMasterKeyId).toBeDefined();
    for (const alarm of alarms) {
      expect(alarm.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(alarm.OKActions).toEqual([{ Ref: topicId }]);
    }
    template.hasOutput('AlarmTopicArn', { Value: { Ref: topicId } });
    // CloudWatch may publish to it and use its key.
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish' }),
        ]),
      }),
    });
  });

  it("let the provisioner keep one queue-age alarm per destination, and nothing else of CloudWatch but health's metric reads", () => {
    const provisioner = stack.provisioner.provisionerFunction;
    const fn = resources[stack.getLogicalId(provisioner.function.node.defaultChild as never)];
    const env =
      (fn?.Properties.Environment as { Variables: Record<string, unknown> } | undefined)?.Variables ?? {};
    expect(env.ALARM_TOPIC_ARN).toBeDefined();
    const policies = ofType('AWS::IAM::Policy').map(([, p]) => JSON.stringify(p.Properties));
    // Health reads (the management function, the provisioner's scheduled run) may also
    // GetMetricData; only one policy may put or delete alarms.
    const cloudwatch = policies.filter((p) => /cloudwatch:(?!GetMetricData)/.test(p));
    expect(cloudwatch).toHaveLength(1);
    expect(cloudwatch[0]).toContain('cloudwatch:PutMetricAlarm');
    expect(cloudwatch[0]).toContain('cloudwatch:DeleteAlarms');
    expect(cloudwatch[0]).toContain(':alarm:Pushrail-*-queue-age');
  });
});

describe('the dashboard', () => {
  it('exists once, with the alarms, the per-kind metrics and the worst queues of the stack', () => {
    const dashboards = ofType('AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]?.[1].Properties.DashboardBody);
    for (const name of [
      'EventsDelivered',
      'EventsFailed',
      'EventsDeadLettered',
      'DeliveryLatency',
      '5XXError',
    ]) {
      expect(body).toContain(name);
    }
    expect(body).toContain('ApproximateAgeOfOldestMessage');
    expect(body).toContain('QueueName=Pushrail');
    expect(body).toContain('alarm');
    template.hasOutput('DashboardName', {});
  });

  it('builds without warnings', () => {
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });
});

describe('custom metrics are billed per dimension set: none is per destination', () => {
  it('in the template: every Pushrail metric has only kind, failure class and service dimensions', () => {
    const body = JSON.stringify(ofType('AWS::CloudWatch::Dashboard')[0]?.[1].Properties.DashboardBody);
    const pushrailAlarms = alarms.filter((a) => a.Namespace === METRICS_NAMESPACE);
    expect(pushrailAlarms.length).toBeGreaterThan(0);
    for (const alarm of pushrailAlarms) {
      for (const d of alarm.Dimensions as { Name: string; Value: string }[]) {
        expect(METRIC_DIMENSIONS).toContain(d.Name);
      }
    }
    // Dashboard metrics are arrays: [namespace, name, dim1, value1, ...]. Find Pushrail's and check.
    const metricArrays = [...body.matchAll(/\[\\"Pushrail\\",[^\]]*\]/g)].map((m) => m[0]);
    expect(metricArrays.length).toBeGreaterThan(0);
    for (const array of metricArrays) {
      expect(array).not.toMatch(/destination/i);
    }
  });

  it('in the code: only lambdas/core/metrics.ts names dimensions, and no emitter names a destination', () => {
    // The one emitter; a second one (or a destinationId dimension) would have to pass this test.
    const files = listTs(join(process.cwd(), 'lambdas'));
    const emitters = files.filter((f) =>
      /from '@aws-lambda-powertools\/metrics'/.test(readFileSync(f, 'utf8')),
    );
    expect(emitters.map((f) => f.slice(process.cwd().length + 1))).toEqual([
      'lambdas/adapters/delivery-metrics.ts',
    ]);
    const source = readFileSync(emitters[0] as string, 'utf8');
    expect(source).not.toMatch(/addDimension|addDimensions|addMetadata/);
    expect(source).not.toMatch(/destinationId\s*[,}:]/);
  });
});

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return listTs(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}
