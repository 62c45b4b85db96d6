import { CustomResource, Duration, Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { NagSuppressions } from 'cdk-nag';
import { Construct, type IDependable } from 'constructs';
import { PROVISIONER_ENV } from '../lambdas/core/function-env.js';
import type { DestinationType } from '../lambdas/destinations/index.js';
import { grantHealth } from './health-permissions.js';
import { PushrailFunction } from './pushrail-function.js';
import { nagResource, type RuntimeResources } from './runtime-resources.js';

/**
 * What the provisioner may do, from the calls lambdas/control/provisioner.ts and its adapters make:
 * - queues (by name prefix): create and configure a destination's queue and DLQ, find and delete
 *   them, and, for a forced delete, move what is left to the DLQ (receive, send, delete);
 * - the destinations table: read one (GetItem) or all (Scan), record the provisioning state
 *   (UpdateItem, with the catalog bump) and remove a deleted destination (DeleteItem), each write in a
 *   TransactWriteItems, which IAM authorizes as its Put, Update and Delete actions;
 * - Pushrail's own secrets: DescribeSecret and DeleteSecret of a deleted destination's secret.
 * Event source mappings are in `MAPPING_ACTIONS`.
 */
export const PROVISIONER_PERMISSIONS = {
  queues: [
    'sqs:CreateQueue',
    'sqs:GetQueueUrl',
    'sqs:GetQueueAttributes',
    'sqs:SetQueueAttributes',
    'sqs:DeleteQueue',
    'sqs:ReceiveMessage',
    'sqs:DeleteMessage',
    'sqs:ChangeMessageVisibility',
    'sqs:SendMessage',
    'sqs:TagQueue',
    // The teardown finds the queues it made by their owner tag (adapters/sqs-queue.ts ownedQueueUrls).
    'sqs:ListQueueTags',
  ],
  /** The teardown lists the queues named with the prefix; ListQueues takes no resource (only `*`). */
  listQueues: ['sqs:ListQueues'],
  destinations: ['dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
  secrets: ['secretsmanager:DescribeSecret', 'secretsmanager:DeleteSecret'],
  /** The queue-age alarm of each destination (adapters/queue-alarms.ts): put, and deleted with it. */
  alarms: ['cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms'],
} as const;

/**
 * Event source mapping actions, by what IAM can scope them to (Service Authorization Reference, "AWS
 * Lambda"): CreateEventSourceMapping has no resource type (only `*`) but the `lambda:FunctionArn`
 * condition; Update, Delete and Get take the mapping's ARN and the same condition; List has neither.
 */
export const MAPPING_ACTIONS = {
  create: ['lambda:CreateEventSourceMapping'],
  onMapping: [
    'lambda:UpdateEventSourceMapping',
    'lambda:DeleteEventSourceMapping',
    'lambda:GetEventSourceMapping',
  ],
  list: ['lambda:ListEventSourceMappings'],
} as const;

/** A reconcile of 1,000 destinations is paced at 10 mapping calls per second: minutes, not seconds. */
export const PROVISIONER_TIMEOUT = Duration.minutes(15);

/** How often every destination is reconciled with its resources (drift repair). */
export const RECONCILE_SCHEDULE = Schedule.rate(Duration.minutes(5));

export interface ProvisionerProps {
  /** Prefix of the queue and secret names, and the ARN patterns built from it. */
  readonly resources: RuntimeResources;
  /** The destinations at runtime (`TABLES.destinations`). */
  readonly destinationsTable: ITable;
  /** The attempts table: the scheduled run evaluates health and announces changes. */
  readonly attemptsTable: ITable;
  /** The consumer function of each kind: the targets of the event source mappings. */
  readonly consumers: Readonly<Record<DestinationType, IFunction>>;
  /**
   * The topic each destination's queue-age alarm notifies; with it, the provisioner keeps one alarm per
   * destination (core/queue-age-alarm.ts).
   * @default - no per-destination alarms
   */
  readonly alarmTopic?: ITopic;
  /**
   * What the teardown needs besides the provisioner: it runs before these are deleted.
   * @default - the consumers only
   */
  readonly teardownNeeds?: readonly IDependable[];
  /**
   * How long the log events of the provisioner and the teardown provider are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * The provisioner (DESIGN.md "Management API"): converges each destination's queue, DLQ and event
 * source mapping to its record in the destinations table.
 *
 * - Invoked asynchronously with `{destinationId}` by the management function after every change, and
 *   every 5 minutes by an EventBridge rule (its scheduled event means: reconcile every destination).
 * - Reserved concurrency 1: one invocation at a time, so its pacing of mapping calls (a token bucket,
 *   at most 10 per second; Lambda allows about 15 Create/UpdateEventSourceMapping per second per
 *   account and Region, deploys included) holds across invocations. Invocations beyond the one
 *   running are throttled and retried by Lambda's asynchronous queue.
 * - A custom resource whose Delete (at `cdk destroy`) asks it to tear down every mapping, queue and
 *   owned secret it created. CloudFormation deletes it before the functions it needs (the
 *   provisioner, the consumers) and after the schedule, so no reconcile re-creates queues behind it.
 */
export class Provisioner extends Construct {
  public readonly provisionerFunction: PushrailFunction;
  public readonly schedule: Rule;
  /** The custom resource whose deletion tears down what the provisioner created. */
  public readonly teardown: CustomResource;
  public readonly teardownProvider: Provider;

  public constructor(scope: Construct, id: string, props: ProvisionerProps) {
    super(scope, id);
    const { resources } = props;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const consumerArns = Object.values(props.consumers).map((fn) => fn.functionArn);

    this.provisionerFunction = new PushrailFunction(this, 'ProvisionerFunction', {
      entry: 'lambdas/control/provisioner-handler.ts',
      serviceName: 'pushrail-provisioner',
      description:
        "Pushrail provisioner: converges each destination's queues and event source mapping to the table",
      timeout: PROVISIONER_TIMEOUT,
      memorySize: 512,
      reservedConcurrentExecutions: 1,
      logRetention,
      environment: {
        [PROVISIONER_ENV.destinationsTable]: props.destinationsTable.tableName,
        [PROVISIONER_ENV.namePrefix]: resources.namePrefix,
        [PROVISIONER_ENV.attemptsTable]: props.attemptsTable.tableName,
        // ARNs rather than names: the lambda:FunctionArn condition below compares them as given.
        [PROVISIONER_ENV.deliveryFunctions]: Stack.of(this).toJsonString(
          Object.fromEntries(Object.entries(props.consumers).map(([type, fn]) => [type, fn.functionArn])),
        ),
        ...(props.alarmTopic ? { [PROVISIONER_ENV.alarmTopicArn]: props.alarmTopic.topicArn } : {}),
      },
    });
    const fn = this.provisionerFunction.function;

    fn.addToRolePolicy(
      new PolicyStatement({
        actions: [...PROVISIONER_PERMISSIONS.queues],
        resources: [resources.queues.arn],
      }),
    );
    props.destinationsTable.grant(fn, ...PROVISIONER_PERMISSIONS.destinations);
    if (props.alarmTopic) {
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: [...PROVISIONER_PERMISSIONS.alarms],
          resources: [resources.queueAlarms.arn],
        }),
      );
    }
    grantHealth(fn, props.attemptsTable, resources, this.provisionerFunction.role);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: [...PROVISIONER_PERMISSIONS.secrets],
        resources: [resources.ownedSecrets.arn],
      }),
    );
    // Mappings onto the stack's consumers only, though the mapping resources cannot be named.
    const ontoConsumers = { StringEquals: { 'lambda:FunctionArn': consumerArns } };
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: [...MAPPING_ACTIONS.create],
        resources: ['*'],
        conditions: ontoConsumers,
      }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: [...MAPPING_ACTIONS.onMapping],
        resources: [resources.eventSourceMappings.arn],
        conditions: ontoConsumers,
      }),
    );
    // Neither takes a resource (Service Authorization Reference): both only read, and only list.
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: [...MAPPING_ACTIONS.list, ...PROVISIONER_PERMISSIONS.listQueues],
        resources: ['*'],
      }),
    );

    this.schedule = new Rule(this, 'ReconcileSchedule', {
      description: 'Pushrail: reconcile every destination with its queues and event source mapping',
      schedule: RECONCILE_SCHEDULE,
      // One missed run is repaired by the next; retries would only pile up behind reserved concurrency 1.
      targets: [new LambdaFunction(fn, { retryAttempts: 0 })],
    });

    // The provider framework's own function, with a role of this construct (no managed policy) and a
    // log group with retention.
    const providerLogs = new LogGroup(this, 'TeardownProviderLogs', { retention: logRetention });
    const providerRole = new Role(this, 'TeardownProviderRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'Execution role: the CloudFormation provider of the Pushrail teardown custom resource',
    });
    providerLogs.grantWrite(providerRole);
    this.teardownProvider = new Provider(this, 'TeardownProvider', {
      onEventHandler: fn,
      frameworkOnEventRole: providerRole,
      logGroup: providerLogs,
    });
    this.teardown = new CustomResource(this, 'Teardown', {
      serviceToken: this.teardownProvider.serviceToken,
      resourceType: 'Custom::PushrailTeardown',
      properties: { NamePrefix: resources.namePrefix },
    });
    // CloudFormation deletes dependents first: the teardown runs while the provisioner (role and policy
    // included) and the consumers still exist, and the schedule is gone before it starts.
    this.teardown.node.addDependency(this.provisionerFunction, ...Object.values(props.consumers));
    for (const need of props.teardownNeeds ?? []) this.teardown.node.addDependency(need);
    this.schedule.node.addDependency(this.teardown);

    this.acknowledgeNagFindings(props, providerRole);
  }

  private acknowledgeNagFindings(props: ProvisionerProps, providerRole: Role): void {
    const { resources } = props;
    NagSuppressions.addResourceSuppressions(
      this.provisionerFunction.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "Destinations are runtime data: the provisioner creates and deletes each destination's queue and " +
            'DLQ, named <prefix>-<id> and <prefix>-<id>-dlq, so it is scoped to the stack prefix, not to queues ' +
            'that cannot be listed at deploy time.',
          appliesTo: [nagResource(resources.queues)],
        },
        ...(props.alarmTopic
          ? [
              {
                id: 'AwsSolutions-IAM5',
                reason:
                  'Each destination has one queue-age alarm, named <prefix>-<id>-queue-age, which the provisioner ' +
                  'puts with its queue and deletes with it: destinations are runtime data, so the alarms are ' +
                  'scoped by that name pattern; PutMetricAlarm and DeleteAlarms only.',
                appliesTo: [nagResource(resources.queueAlarms)],
              },
            ]
          : []),
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "It deletes a removed destination's secret, which the management API stored under Pushrail's own " +
            'prefix (pushrail/<prefix>/<destination id>); nothing outside that prefix.',
          appliesTo: [nagResource(resources.ownedSecrets)],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Event source mappings have generated ids, so they cannot be named; CreateEventSourceMapping takes ' +
            'no resource at all (Service Authorization Reference). Create, Update, Delete and Get are limited ' +
            "with the lambda:FunctionArn condition to the stack's consumer functions. ListEventSourceMappings " +
            'and sqs:ListQueues (the teardown finds the queues it made, QueueNamePrefix <prefix>-) support ' +
            'neither a resource nor a condition; they only list.',
          appliesTo: ['Resource::*', nagResource(resources.eventSourceMappings)],
        },
      ],
      true,
    );
    NagSuppressions.addResourceSuppressions(
      providerRole,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "CDK's custom resource provider framework grants invoke on the provisioner and its versions " +
            '(<arn>:*); the provisioner is the only function it may invoke.',
          appliesTo: [{ regex: '/^Resource::<[A-Za-z0-9]*ProvisionerFunction[A-Za-z0-9]*\\.Arn>:\\*$/g' }],
        },
      ],
      true,
    );
  }
}
