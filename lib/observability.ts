import { Duration, Stack } from 'aws-cdk-lib';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRIC_NAMES, METRICS_NAMESPACE, METRICS_SERVICE } from '../lambdas/core/metrics.js';
import { type DestinationType, KINDS } from '../lambdas/destinations/index.js';

export interface ObservabilityProps {
  /** The stack's name prefix: the queues the dashboard searches are `<prefix>-*`. */
  readonly namePrefix: string;
  /** The API (ingest and management share it). */
  readonly api: RestApi;
  /** The ingest function. */
  readonly ingestFunction: IFunction;
  /** The consumer function of each kind. */
  readonly consumers: Readonly<Record<DestinationType, IFunction>>;
}

/** The period every stack alarm evaluates. */
const PERIOD = Duration.minutes(5);

/**
 * Pushrail's alarms and its dashboard (README "Operating Pushrail" → "Alarms and dashboard").
 *
 * The stack's alarms are a fixed set whatever the number of destinations: API 5xx, ingest throttles,
 * and per kind consumer errors and events dead-lettered (the custom metric every DLQ move counts, so
 * "any DLQ receiving messages" is one alarm per kind, not one per DLQ). The alarm that must know each
 * destination's window, its queue's oldest message, is put by the provisioner per destination
 * (core/queue-age-alarm.ts) with this topic as its action.
 *
 * Every alarm notifies `alarmTopic` (output `AlarmTopicArn`): the vendor subscribes its pager or
 * chat to it. The topic is encrypted with a key of this stack, which CloudWatch may use to publish.
 */
export class Observability extends Construct {
  public readonly alarmTopic: Topic;
  public readonly alarms: Readonly<Record<string, Alarm>>;
  public readonly dashboard: Dashboard;

  public constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const stack = Stack.of(this);

    const key = new Key(this, 'AlarmTopicKey', {
      description: 'Pushrail: encrypts the alarm topic',
      enableKeyRotation: true,
    });
    // CloudWatch alarms publish to an encrypted topic only if the key lets CloudWatch use it.
    key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    this.alarmTopic = new Topic(this, 'AlarmTopic', {
      displayName: `Pushrail alarms (${stack.stackName})`,
      masterKey: key,
      enforceSSL: true,
    });
    this.alarmTopic.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*`,
          },
        },
      }),
    );
    const action = new SnsAction(this.alarmTopic);

    const alarms: Record<string, Alarm> = {};
    const add = (alarmId: string, alarm: Alarm) => {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      alarms[alarmId] = alarm;
    };
    const anyIn = (metric: Metric, alarmId: string, description: string) =>
      new Alarm(this, alarmId, {
        metric,
        alarmDescription: description,
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });

    add(
      'Api5xx',
      anyIn(
        props.api.metricServerError({ period: PERIOD, statistic: 'Sum' }),
        'Api5xx',
        'Pushrail API answered 5xx (ingest or management): producers retry, but events may be waiting. ' +
          'See the ingest and management function logs.',
      ),
    );
    add(
      'IngestThrottles',
      anyIn(
        props.ingestFunction.metricThrottles({ period: PERIOD, statistic: 'Sum' }),
        'IngestThrottles',
        'Pushrail ingest function throttled (account concurrency): producers get 5xx/429 and retry.',
      ),
    );
    const consumerTypes = Object.keys(props.consumers) as DestinationType[];
    for (const type of consumerTypes) {
      const fn = props.consumers[type];
      const { functionId, title } = { functionId: KINDS[type].delivery.functionId, title: KINDS[type].title };
      add(
        `${functionId}Errors`,
        anyIn(
          fn.metricErrors({ period: PERIOD, statistic: 'Sum' }),
          `${functionId}Errors`,
          `Pushrail ${title} consumer failed invocations (a crash or timeout before it classified the batch): ` +
            'the batch comes back; see its logs.',
        ),
      );
      add(
        `${functionId}DeadLettered`,
        anyIn(
          kindMetric(METRIC_NAMES.deadLettered, type, 'Sum', false),
          `${functionId}DeadLettered`,
          `Pushrail ${title}: events were moved to a destination DLQ. Find which with ` +
            '`npx pushrail health`, the reason with `npx pushrail trace <eventId>`, then `npx pushrail replay`.',
        ),
      );
    }
    this.alarms = alarms;

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${stack.stackName}-pushrail`,
      defaultInterval: Duration.hours(3),
    });
    // The ten worst queues of the stack's: SEARCH matches the queues the provisioner named with the
    // prefix (dashboards may search, alarms may not, which is why the alarm per destination is the
    // provisioner's). SEARCH returns at most 500 series before SORT keeps ten.
    const worstQueues = (metric: string, filter: string) =>
      new MathExpression({
        expression: `SORT(SEARCH('{AWS/SQS,QueueName} MetricName="${metric}" QueueName=${props.namePrefix} ${filter}', 'Maximum', 60), MAX, DESC, 10)`,
        usingMetrics: {},
        label: '',
        period: Duration.minutes(1),
      });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          '# Pushrail\nPer destination: `npx pushrail health` and `npx pushrail trace <eventId>` ' +
          '(README "Operating Pushrail"). Custom metrics are per kind only; queues are per destination.',
        width: 24,
        height: 2,
      }),
      new AlarmStatusWidget({
        title: 'Stack alarms (per-destination queue-age alarms: <prefix>-<id>-queue-age)',
        alarms: Object.values(alarms),
        width: 24,
        height: 4,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'API requests and errors',
        left: [
          props.api.metricCount({ period: PERIOD, statistic: 'Sum' }),
          props.api.metricClientError({ period: PERIOD, statistic: 'Sum' }),
          props.api.metricServerError({ period: PERIOD, statistic: 'Sum' }),
        ],
        width: 8,
      }),
      new GraphWidget({
        title: 'API latency p50 / p99',
        left: [
          props.api.metricLatency({ period: PERIOD, statistic: 'p50' }),
          props.api.metricLatency({ period: PERIOD, statistic: 'p99' }),
        ],
        width: 8,
      }),
      new GraphWidget({
        title: 'Ingest function errors and throttles',
        left: [
          props.ingestFunction.metricErrors({ period: PERIOD, statistic: 'Sum' }),
          props.ingestFunction.metricThrottles({ period: PERIOD, statistic: 'Sum' }),
        ],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Events delivered, by kind',
        left: consumerTypes.map((t) => kindMetric(METRIC_NAMES.delivered, t, 'Sum')),
        width: 6,
      }),
      new GraphWidget({
        title: 'Events failed, by kind and class',
        left: consumerTypes.flatMap((t) =>
          (['transient', 'permanent'] as const).map((c) => failedMetric(t, c)),
        ),
        width: 6,
      }),
      new GraphWidget({
        title: 'Events dead-lettered, by kind',
        left: consumerTypes.map((t) => kindMetric(METRIC_NAMES.deadLettered, t, 'Sum')),
        width: 6,
      }),
      new GraphWidget({
        title: 'Delivery latency p50 / p95, by kind',
        left: consumerTypes.flatMap((t) => [
          kindMetric(METRIC_NAMES.latency, t, 'p50'),
          kindMetric(METRIC_NAMES.latency, t, 'p95'),
        ]),
        width: 6,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Consumer errors and throttles, by kind',
        left: consumerTypes.flatMap((t) => [
          props.consumers[t].metricErrors({ period: PERIOD, statistic: 'Sum', label: `${t} errors` }),
          props.consumers[t].metricThrottles({ period: PERIOD, statistic: 'Sum', label: `${t} throttles` }),
        ]),
        width: 8,
      }),
      new GraphWidget({
        title: 'Oldest queued message (s): the 10 oldest destination queues',
        left: [worstQueues('ApproximateAgeOfOldestMessage', 'NOT QueueName=dlq')],
        width: 8,
      }),
      new GraphWidget({
        title: 'DLQ depth: the 10 deepest destination DLQs',
        left: [worstQueues('ApproximateNumberOfMessagesVisible', 'QueueName=dlq')],
        width: 8,
      }),
    );
  }
}

/** A Pushrail custom metric of one kind (dimensions service + kind, as the emitter writes them). */
function kindMetric(name: string, kind: DestinationType, statistic: string, labelled = true): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: METRICS_SERVICE, kind },
    statistic,
    period: PERIOD,
    // A label makes an alarm's metric a one-metric math query: graphs only.
    ...(labelled ? { label: `${kind} ${statistic === 'Sum' ? '' : statistic}`.trim() } : {}),
  });
}

function failedMetric(kind: DestinationType, failureClass: 'transient' | 'permanent'): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: METRIC_NAMES.failed,
    dimensionsMap: { service: METRICS_SERVICE, kind, failureClass },
    statistic: 'Sum',
    period: PERIOD,
    label: `${kind} ${failureClass}`,
  });
}
