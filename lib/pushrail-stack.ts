import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import type { PushrailConfig } from '../lambdas/core/config.js';
import { queueNames, TABLES } from '../lambdas/core/resources.js';
import { routingTable } from '../lambdas/core/routing.js';
import { deliverySettings } from '../lambdas/destinations/index.js';
import { DeliveryFunction, type DeliveryFunctionResources } from './delivery-function.js';
import { DestinationQueue } from './destination-queue.js';
import { EVENTS_PATH, IngestApi } from './ingest-api.js';
import { Replay } from './replay.js';
import { type TableRole, Tables, tableConstructId } from './tables.js';

/** The stack name when `-c stackName=` is not given. */
export const DEFAULT_STACK_NAME = 'Pushrail';

export interface PushrailStackProps extends StackProps {
  /** The validated destinations config. */
  readonly config: PushrailConfig;
}

/** `acme-s3-archive` → `AcmeS3Archive`: construct and output ids derived from a destination id. */
export function pascalCase(id: string): string {
  return id
    .split('-')
    .filter((part) => part.length > 0)
    .map((part) => `${part.charAt(0).toUpperCase()}${part.slice(1)}`)
    .join('');
}

/**
 * Pushrail: the ingest API, the event store, per destination a queue (with its DLQ) and the consumer
 * that delivers from it (S3 batcher or EventBridge sender), and the on-call replay function.
 *
 * The stack name prefixes every physical name Pushrail chooses (the queue names the ingest function
 * routes to), so two stacks in one account never collide.
 */
export class PushrailStack extends Stack {
  /** Pushrail's DynamoDB tables by role (TABLES). */
  public readonly tables: Readonly<Record<TableRole, ITable>>;
  public readonly destinationQueues: Readonly<Record<string, DestinationQueue>>;
  /** The consumer of each destination, by destination id. */
  public readonly consumers: Readonly<Record<string, DeliveryFunction>>;
  public readonly ingestApi: IngestApi;
  /** The on-call replay function (output `ReplayFunctionName`). */
  public readonly replay: Replay;

  public constructor(scope: Construct, id: string, props: PushrailStackProps) {
    super(scope, id, props);
    const { config } = props;
    const namePrefix = this.stackName;
    // Fails early, naming the rule, if the stack name cannot prefix queue names.
    queueNames(namePrefix, 'x');

    // 'EventStore' is the construct id the tables were first deployed under: renaming it would replace
    // the retained tables (new logical ids) instead of keeping them.
    this.tables = new Tables(this, 'EventStore').tables;

    const queues: Record<string, DestinationQueue> = {};
    const consumers: Record<string, DeliveryFunction> = {};
    const idOwners = new Map<string, string>();
    for (const destination of config.destinations) {
      const constructId = pascalCase(destination.id);
      const owner = idOwners.get(constructId);
      if (owner !== undefined) {
        throw new Error(
          `destinations "${owner}" and "${destination.id}" both map to the output name ${constructId}; rename one`,
        );
      }
      idOwners.set(constructId, destination.id);
      const queue = new DestinationQueue(this, `${constructId}Destination`, {
        namePrefix,
        destinationId: destination.id,
        // From the delivery function's timeout and batching window: see deliverySettings.
        visibilityTimeout: Duration.seconds(deliverySettings(destination).visibilityTimeoutSeconds),
      });
      queues[destination.id] = queue;
      const resources: DeliveryFunctionResources = {
        vendor: config.vendor,
        queue: queue.queue,
        dlq: queue.dlq,
        eventsTable: this.tables.events,
        sealsTable: this.tables.seals,
        attemptsTable: this.tables.attempts,
        retentionDays: config.retentionDays,
      };
      consumers[destination.id] = new DeliveryFunction(this, `${constructId}Consumer`, {
        ...resources,
        destination,
      });
    }
    this.destinationQueues = queues;
    this.consumers = consumers;

    this.ingestApi = new IngestApi(this, 'IngestApi', {
      eventsTable: this.tables.events,
      idempotencyTable: this.tables.idempotency,
      destinationQueues: Object.values(queues).map((q) => q.queue),
      routes: routingTable(config, namePrefix),
      retentionDays: config.retentionDays,
    });

    this.replay = new Replay(this, 'Replay', {
      namePrefix,
      destinations: config.destinations.map((d) => {
        const queue = queues[d.id] as DestinationQueue;
        return { id: d.id, type: d.type, queue: queue.queue, dlq: queue.dlq };
      }),
      eventsTable: this.tables.events,
      attemptsTable: this.tables.attempts,
      retentionDays: config.retentionDays,
    });

    this.addOutputs(config);
  }

  private addOutputs(config: PushrailConfig): void {
    new CfnOutput(this, 'ApiUrl', {
      description: `Base URL of the API; producers POST events to <ApiUrl>${EVENTS_PATH}`,
      value: this.ingestApi.baseUrl,
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
    for (const role of Object.keys(TABLES) as TableRole[]) {
      new CfnOutput(this, `${tableConstructId(TABLES[role])}Name`, {
        description: `DynamoDB table: ${role}`,
        value: this.tables[role].tableName,
      });
    }
    for (const destination of config.destinations) {
      const queues = this.destinationQueues[destination.id];
      if (!queues) continue; // unreachable: one DestinationQueue per destination above
      const id = pascalCase(destination.id);
      new CfnOutput(this, `${id}QueueUrl`, {
        description: `Queue of destination ${destination.id} (${destination.type})`,
        value: queues.queue.queueUrl,
      });
      new CfnOutput(this, `${id}DlqUrl`, {
        description: `Dead-letter queue of destination ${destination.id}`,
        value: queues.dlq.queueUrl,
      });
    }
  }
}
