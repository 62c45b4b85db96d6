import { Aws, Duration, Stack } from 'aws-cdk-lib';
import { AuthorizationType, LambdaIntegration, type Method, type RestApi } from 'aws-cdk-lib/aws-apigateway';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { MANAGEMENT_ROUTES } from '../lambdas/control/routes.js';
import { MANAGEMENT_ENV } from '../lambdas/core/function-env.js';
import type { DestinationType } from '../lambdas/destinations/index.js';
import { grantHealth } from './health-permissions.js';
import { PushrailFunction } from './pushrail-function.js';
import { nagResource, type RuntimeResources } from './runtime-resources.js';

/**
 * What the management function may do, from the calls of lambdas/control/destinations.ts and its
 * adapters:
 * - destinations table: get (GetItem), list (Scan), create and replace: a TransactWriteItems of the
 *   record (Put), the catalog bump (Update) and the audit entry, which IAM authorizes as those items'
 *   PutItem and UpdateItem. No DeleteItem: the provisioner removes a record once its resources are gone.
 * - audit table: the entries (PutItem, in the transaction or alone) and `GET /v1/audit` (Query).
 * - events and attempts tables: `GET /v1/events/{eventId}` (adapters/trace-reader.ts) reads the event
 *   (GetItem) and its trace records (Query); it writes neither. `GET /v1/deliveries` Queries the
 *   attempts table (one destination) or its `feed` index (all of them).
 * - Pushrail's own secrets (adapters/owned-secrets.ts): CreateSecret, DescribeSecret and RestoreSecret
 *   (taking over one left by an earlier destination of the same id), PutSecretValue (a rotation).
 *   No DeleteSecret (the provisioner deletes) and no TagResource (secrets are created untagged).
 */
export const MANAGEMENT_PERMISSIONS = {
  destinations: ['dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  audit: ['dynamodb:PutItem', 'dynamodb:Query'],
  events: ['dynamodb:GetItem'],
  attempts: ['dynamodb:Query'],
  /** `GET /v1/deliveries` across destinations reads the attempts table's feed index. */
  feedIndex: ['dynamodb:Query'],
  secrets: [
    'secretsmanager:CreateSecret',
    'secretsmanager:DescribeSecret',
    'secretsmanager:RestoreSecret',
    'secretsmanager:PutSecretValue',
  ],
} as const;

export interface ManagementApiProps {
  /** The REST API of the stack: the management routes sit beside `POST /v1/events`. */
  readonly api: RestApi;
  /** Prefix of the owned secrets' names (`NAME_PREFIX`) and the patterns built from it. */
  readonly resources: RuntimeResources;
  /** The destinations at runtime (`TABLES.destinations`). */
  readonly destinationsTable: ITable;
  /** The audit trail of changes (`TABLES.audit`). */
  readonly auditTable: ITable;
  /** The event store (`TABLES.events`): the trace reads the event. */
  readonly eventsTable: ITable;
  /**
   * The attempt records (`TABLES.attempts`): the trace reads its receipts and event attempts; health's
   * rollups and last announced status live there too.
   */
  readonly attemptsTable: ITable;
  /** The attempts table's `feed` index (core/deliveries-feed.ts), read by `GET /v1/deliveries`. */
  readonly feedIndexArn: string;
  /** Invoked asynchronously with `{destinationId}` after every change. */
  readonly provisioner: IFunction;
  /** The consumer of each kind, invoked synchronously by the test send. */
  readonly consumers: Readonly<Record<DestinationType, IFunction>>;
  /**
   * How long the function's log events are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * The management API (DESIGN.md "Management API"): the routes of `MANAGEMENT_ROUTES` on the stack's
 * REST API, each with IAM auth (SigV4, service `execute-api`) and no API key, so a producer's
 * `x-api-key` never opens them: who may call them is whatever IAM policy grants `execute-api:Invoke`
 * on them, and the caller's principal ARN is the audit's `who`.
 */
export class ManagementApi extends Construct {
  public readonly managementFunction: PushrailFunction;
  /** The methods, by `METHOD path`. */
  public readonly methods: Readonly<Record<string, Method>>;

  public constructor(scope: Construct, id: string, props: ManagementApiProps) {
    super(scope, id);
    const { resources } = props;

    this.managementFunction = new PushrailFunction(this, 'ManagementFunction', {
      entry: 'lambdas/control/handler.ts',
      serviceName: 'pushrail-management',
      description: 'Pushrail management API: destinations, their changes and the audit trail',
      memorySize: 512,
      // API Gateway's integration timeout is 29 s; the test send waits for a consumer within it.
      timeout: Duration.seconds(29),
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      environment: {
        [MANAGEMENT_ENV.destinationsTable]: props.destinationsTable.tableName,
        [MANAGEMENT_ENV.auditTable]: props.auditTable.tableName,
        [MANAGEMENT_ENV.eventsTable]: props.eventsTable.tableName,
        [MANAGEMENT_ENV.attemptsTable]: props.attemptsTable.tableName,
        [MANAGEMENT_ENV.namePrefix]: resources.namePrefix,
        // The account the customers' trust policies name: the one the consumers assume roles from.
        [MANAGEMENT_ENV.vendorAccountId]: Aws.ACCOUNT_ID,
        [MANAGEMENT_ENV.provisionerFunction]: props.provisioner.functionName,
        [MANAGEMENT_ENV.deliveryFunctions]: Stack.of(this).toJsonString(
          Object.fromEntries(Object.entries(props.consumers).map(([type, fn]) => [type, fn.functionArn])),
        ),
      },
    });
    const fn = this.managementFunction.function;

    props.destinationsTable.grant(fn, ...MANAGEMENT_PERMISSIONS.destinations);
    props.auditTable.grant(fn, ...MANAGEMENT_PERMISSIONS.audit);
    props.eventsTable.grant(fn, ...MANAGEMENT_PERMISSIONS.events);
    props.attemptsTable.grant(fn, ...MANAGEMENT_PERMISSIONS.attempts);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: [...MANAGEMENT_PERMISSIONS.feedIndex],
        resources: [props.feedIndexArn],
      }),
    );
    grantHealth(fn, props.attemptsTable, resources, this.managementFunction.role);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: [...MANAGEMENT_PERMISSIONS.secrets],
        resources: [resources.ownedSecrets.arn],
      }),
    );
    // The function ARNs without `:*`: unqualified invocations only.
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [
          props.provisioner.functionArn,
          ...Object.values(props.consumers).map((c) => c.functionArn),
        ],
      }),
    );

    // Proxy integration: the function routes and answers every status itself. No test-invoke
    // permission: the console's test button is not how the API is called.
    const integration = new LambdaIntegration(fn, { proxy: true, allowTestInvoke: false });
    const methods: Record<string, Method> = {};
    for (const route of MANAGEMENT_ROUTES) {
      const method = props.api.root.resourceForPath(route.path).addMethod(route.method, integration, {
        authorizationType: AuthorizationType.IAM,
        apiKeyRequired: false,
      });
      methods[`${route.method} ${route.path}`] = method;
    }
    this.methods = methods;

    this.acknowledgeNagFindings(props);
  }

  private acknowledgeNagFindings(props: ManagementApiProps): void {
    NagSuppressions.addResourceSuppressions(
      this.managementFunction.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Raw access keys posted to the management API are stored as one secret per destination under ' +
            "Pushrail's own prefix (pushrail/<prefix>/<destination id>), whose ids are runtime data; nothing " +
            'outside that prefix.',
          appliesTo: [nagResource(props.resources.ownedSecrets)],
        },
      ],
      true,
    );
    for (const method of Object.values(this.methods)) {
      NagSuppressions.addResourceSuppressions(method, [
        {
          id: 'AwsSolutions-COG4',
          reason:
            "The management API's callers are the vendor's backends and operators, which hold IAM " +
            'principals: IAM auth (SigV4) is the contract (DESIGN.md), and the principal ARN is the audit ' +
            "trail's who. There are no end users to hold a Cognito identity.",
        },
      ]);
    }
  }
}
