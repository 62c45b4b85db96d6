import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { SubnetType } from 'aws-cdk-lib/aws-ec2';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import type { VendorSettings } from '../lambdas/core/config.js';
import { FEED_INDEX } from '../lambdas/core/deliveries-feed.js';
import { TABLES } from '../lambdas/core/resources.js';
import { DESTINATION_TYPES, type DestinationType, KINDS } from '../lambdas/destinations/index.js';
import { DeliveryFunction } from './delivery-function.js';
import { EgressNetwork } from './egress-network.js';
import { HttpIngestApi } from './http-ingest-api.js';
import { EVENTS_PATH, IngestApi } from './ingest-api.js';
import { ManagementApi } from './management-api.js';
import { Observability } from './observability.js';
import { Provisioner } from './provisioner.js';
import { Replay } from './replay.js';
import { RuntimeResources } from './runtime-resources.js';
import { type TableRole, Tables, tableConstructId } from './tables.js';

/** The stack name when `-c stackName=` is not given. */
export const DEFAULT_STACK_NAME = 'Pushrail';

/** How destinations get into a deployed stack: they are not part of it. */
export const DESTINATIONS_APPLY_HINT =
  'destinations are not deployed: apply them with `npx pushrail destinations apply -f pushrail.config.json --stack <stack>`, ' +
  'or create them through the management API';

/**
 * A Secrets Manager ARN pattern of one account: a wildcard only at the end of the name, so it names
 * a prefix of secrets and not every secret of the account.
 */
const SECRETS_ARN_PATTERN =
  /^arn:aws[a-z-]*:secretsmanager:(?:[a-z]{2}(?:-[a-z]+)+-\d|\*):\d{12}:secret:[A-Za-z0-9/_+=.@-]+\*?$/;

export interface PushrailStackProps extends StackProps, VendorSettings {
  /**
   * Where the vendor keeps secrets of ACCESS_KEY destinations itself (a `secretArn` given with a
   * destination, rather than keys posted to the management API), as an ARN pattern with at most a
   * trailing `*`, e.g. `arn:aws:secretsmanager:us-east-1:123456789012:secret:customers/pushrail/*`.
   * The consumers may read these too. A secret outside both this and Pushrail's own prefix is refused
   * by IAM at delivery (AccessDenied: the destination's events dead-letter, and its test send says so).
   * @default - Pushrail's own secrets only (`pushrail/<stack name>/*`)
   */
  readonly customerSecretsArnPattern?: string;
}

/**
 * Pushrail: the platform that destinations run on, with no resource per destination (DESIGN.md
 * "Flow"): the API (ingest with API keys, management with IAM), the tables, one consumer function
 * per destination kind, the provisioner that gives each destination its queues and event source
 * mapping at run time, and the on-call replay function. Destinations are rows of the destinations
 * table, created through the management API (or `npx pushrail destinations apply -f`), so the
 * template is the same whatever the config lists.
 *
 * The stack name prefixes every physical name Pushrail chooses (the queues the provisioner creates,
 * the secrets the management API stores), so two stacks in one account never collide.
 */
export class PushrailStack extends Stack {
  /** Pushrail's DynamoDB tables by role (TABLES). */
  public readonly tables: Readonly<Record<TableRole, ITable>>;
  /** The name prefix and the ARN patterns of what is created at run time. */
  public readonly runtimeResources: RuntimeResources;
  /** The consumer of each destination kind. */
  public readonly consumers: Readonly<Record<DestinationType, DeliveryFunction>>;
  public readonly ingestApi: IngestApi;
  /** POST /v1/events on an HTTP API, for single-event producers (the same keys and ingest function). */
  public readonly httpIngestApi: HttpIngestApi;
  public readonly managementApi: ManagementApi;
  public readonly provisioner: Provisioner;
  /** The on-call replay function (output `ReplayFunctionName`). */
  public readonly replay: Replay;
  /** The consumers' VPC and NAT Elastic IPs, with the egress setting (output `EgressIps`). */
  public readonly egress?: EgressNetwork;
  /** Alarms, their topic (output `AlarmTopicArn`) and the dashboard. */
  public readonly observability: Observability;

  public constructor(scope: Construct, id: string, props: PushrailStackProps) {
    super(scope, id, {
      description: `Pushrail event delivery (${props.vendor}); ${DESTINATIONS_APPLY_HINT}`,
      ...props,
    });
    if (
      props.customerSecretsArnPattern !== undefined &&
      !SECRETS_ARN_PATTERN.test(props.customerSecretsArnPattern)
    ) {
      throw new Error(
        `customerSecretsArnPattern "${props.customerSecretsArnPattern}" must be a Secrets Manager ARN of one ` +
          'account with a name prefix and at most a trailing "*" (arn:aws:secretsmanager:<region>:<account>:secret:<prefix>*)',
      );
    }
    this.runtimeResources = new RuntimeResources(this.stackName);

    // 'EventStore' is the construct id the tables were first deployed under: renaming it would replace
    // the retained tables (new logical ids) instead of keeping them.
    const tables = new Tables(this, 'EventStore');
    this.tables = tables.tables;

    // Off by default: the template is then exactly what it was without the setting.
    if (props.egress?.staticIps) this.egress = new EgressNetwork(this, 'Egress', { azs: props.egress.azs });
    const network = this.egress
      ? {
          vpc: this.egress.vpc,
          subnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
          securityGroups: [this.egress.securityGroup],
        }
      : undefined;

    const consumers: Partial<Record<DestinationType, DeliveryFunction>> = {};
    for (const type of DESTINATION_TYPES) {
      consumers[type] = new DeliveryFunction(this, KINDS[type].delivery.functionId, {
        type,
        vendor: props.vendor,
        resources: this.runtimeResources,
        destinationsTable: this.tables.destinations,
        eventsTable: this.tables.events,
        sealsTable: this.tables.seals,
        attemptsTable: this.tables.attempts,
        auditTable: this.tables.audit,
        retentionDays: props.retentionDays,
        ...(props.customerSecretsArnPattern
          ? { customerSecretsArnPattern: props.customerSecretsArnPattern }
          : {}),
        ...(network ? { network } : {}),
      });
    }
    this.consumers = consumers as Record<DestinationType, DeliveryFunction>;
    const consumerFunctions: Partial<Record<DestinationType, IFunction>> = {};
    for (const type of DESTINATION_TYPES) consumerFunctions[type] = this.consumers[type].lambda.function;
    const consumerFunctionsByType = consumerFunctions as Record<DestinationType, IFunction>;

    this.ingestApi = new IngestApi(this, 'IngestApi', {
      eventsTable: this.tables.events,
      idempotencyTable: this.tables.idempotency,
      destinationsTable: this.tables.destinations,
      resources: this.runtimeResources,
      retentionDays: props.retentionDays,
    });
    this.httpIngestApi = new HttpIngestApi(this, 'HttpIngestApi', {
      ingestFunction: this.ingestApi.ingestFunction.function,
      usagePlanId: this.ingestApi.usagePlan.usagePlanId,
    });

    this.observability = new Observability(this, 'Observability', {
      namePrefix: this.runtimeResources.namePrefix,
      api: this.ingestApi.api,
      ingestFunction: this.ingestApi.ingestFunction.function,
      consumers: consumerFunctionsByType,
    });

    this.provisioner = new Provisioner(this, 'Provisioner', {
      resources: this.runtimeResources,
      destinationsTable: this.tables.destinations,
      attemptsTable: this.tables.attempts,
      consumers: consumerFunctionsByType,
      alarmTopic: this.observability.alarmTopic,
    });

    this.managementApi = new ManagementApi(this, 'ManagementApi', {
      api: this.ingestApi.api,
      resources: this.runtimeResources,
      destinationsTable: this.tables.destinations,
      auditTable: this.tables.audit,
      eventsTable: this.tables.events,
      attemptsTable: this.tables.attempts,
      feedIndexArn: tables.indexArns.attempts?.[FEED_INDEX.name] as string,
      provisioner: this.provisioner.provisionerFunction.function,
      consumers: consumerFunctionsByType,
    });
    // Deleted before the teardown runs, so no change made meanwhile gives the provisioner new work.
    this.managementApi.managementFunction.node.addDependency(this.provisioner.teardown);

    this.replay = new Replay(this, 'Replay', {
      resources: this.runtimeResources,
      destinationsTable: this.tables.destinations,
      eventsTable: this.tables.events,
      attemptsTable: this.tables.attempts,
      auditTable: this.tables.audit,
      retentionDays: props.retentionDays,
    });

    this.addOutputs();
  }

  private addOutputs(): void {
    new CfnOutput(this, 'ApiUrl', {
      description:
        `Base URL of the API; producers POST events to <ApiUrl>${EVENTS_PATH}, the management API is ` +
        '<ApiUrl>/v1/destinations (IAM)',
      value: this.ingestApi.baseUrl,
    });
    new CfnOutput(this, 'HttpIngestUrl', {
      description:
        `Base URL of the HTTP API for single-event producers: POST <HttpIngestUrl>${EVENTS_PATH} with the ` +
        "same x-api-key (cheaper per request; one stage throttle instead of the usage plan's per key)",
      value: this.httpIngestApi.baseUrl,
    });
    new CfnOutput(this, 'ApiKeyId', {
      description:
        'Id of the producer API key (not the key itself). Read the key with: ' +
        'aws apigateway get-api-key --api-key <id> --include-value',
      value: this.ingestApi.apiKey.keyId,
    });
    new CfnOutput(this, 'ReplayFunctionName', {
      description:
        'Replay function for on-call: npx pushrail replay --stack <stack> …, or aws lambda invoke ' +
        '--function-name <name> --cli-binary-format raw-in-base64-out --payload \'{"destinationId":…}\' out.json',
      value: this.replay.replayFunction.function.functionName,
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      description:
        'SNS topic every Pushrail alarm notifies (the stack alarms and the per-destination queue-age alarms): ' +
        'subscribe your pager or chat to it',
      value: this.observability.alarmTopic.topicArn,
    });
    new CfnOutput(this, 'DashboardName', {
      description: 'CloudWatch dashboard of the stack',
      value: this.observability.dashboard.dashboardName,
    });
    new CfnOutput(this, 'ProvisionerFunctionName', {
      description:
        'Provisioner: converges destinations to the table (every 5 minutes, and after each change); ' +
        'its logs say why a destination is FAILED',
      value: this.provisioner.provisionerFunction.function.functionName,
    });
    if (this.egress) {
      new CfnOutput(this, 'EgressIps', {
        description:
          'The addresses every delivery leaves from (webhooks, S3 in any Region, EventBridge): customers may ' +
          'allow these in a bucket policy (aws:SourceIp) or a firewall. README "Egress IP".',
        value: this.egress.egressIps,
      });
    }
    for (const consumer of Object.values(this.consumers)) {
      const { delivery, title } = KINDS[consumer.type];
      new CfnOutput(this, `${delivery.functionId}FunctionName`, {
        description: `Consumer of every ${title} destination (${delivery.label})`,
        value: consumer.lambda.function.functionName,
      });
    }
    for (const role of Object.keys(TABLES) as TableRole[]) {
      new CfnOutput(this, `${tableConstructId(TABLES[role])}Name`, {
        description: `DynamoDB table: ${role}`,
        value: this.tables[role].tableName,
      });
    }
  }
}
