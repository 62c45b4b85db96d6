import { Aws, Duration, Stack } from 'aws-cdk-lib';
import {
  AccessLogField,
  AccessLogFormat,
  EndpointType,
  type IApiKey,
  LambdaIntegration,
  LogGroupLogDestination,
  type Method,
  MethodLoggingLevel,
  Period,
  ResponseType,
  RestApi,
  type UsagePlan,
} from 'aws-cdk-lib/aws-apigateway';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { HttpError, IngestUnavailableError, InvalidApiKeyError } from '../lambdas/core/errors.js';
import { INGEST_ENV } from '../lambdas/core/function-env.js';
import { INGEST_MEMORY_MB } from '../lambdas/core/resources.js';
import { PushrailFunction } from './pushrail-function.js';
import { nagResource, type RuntimeResources } from './runtime-resources.js';

/** The stage every URL goes through (`https://<api>.execute-api.<region>.amazonaws.com/prod/v1/events`). */
export const STAGE_NAME = 'prod';

/** The answer to a request without the credentials its route takes, or to a route that does not exist. */
export const MISSING_CREDENTIALS = new HttpError(
  403,
  'FORBIDDEN',
  'no such route, or the request lacks its credentials: POST /v1/events takes an x-api-key header, the ' +
    'management routes an IAM (SigV4) signature',
  [{ field: 'authorization', message: 'missing' }],
);

/** What ingest reads of the destinations table (adapters/route-cache.ts through DestinationStore). */
export const INGEST_DESTINATIONS_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Scan'] as const;

/** Path of the ingest endpoint, below the stage. */
export const EVENTS_PATH = '/v1/events';

export interface IngestApiProps {
  /** The event store table (`TABLES.events`). */
  readonly eventsTable: ITable;
  /** The Powertools idempotency table (`TABLES.idempotency`). */
  readonly idempotencyTable: ITable;
  /**
   * The destinations at runtime (`TABLES.destinations`): ingest routes each event to the customer's
   * destinations found here (cached per container, refreshed within 30 s).
   */
  readonly destinationsTable: ITable;
  /** Prefix of the queue names (`NAME_PREFIX`): the function may send to the stack's queues only. */
  readonly resources: RuntimeResources;
  /** Days events and idempotency records are kept (DynamoDB TTL). */
  readonly retentionDays: number;
  /**
   * Steady-state requests per second allowed per API key (usage plan throttle).
   * @default 100
   */
  readonly throttleRateLimit?: number;
  /**
   * Burst of requests allowed per API key above the steady rate (usage plan throttle).
   * @default 200
   */
  readonly throttleBurstLimit?: number;
  /**
   * Requests allowed per API key per `quotaPeriod`.
   * @default - no quota
   */
  readonly quotaLimit?: number;
  /**
   * Period of `quotaLimit`.
   * @default Period.DAY
   */
  readonly quotaPeriod?: Period;
  /**
   * Whether this stack sets the account's API Gateway CloudWatch role (one per account and region,
   * required for stage logging). Set false when the account already has one configured.
   * @default true
   */
  readonly createAccountCloudWatchRole?: boolean;
  /**
   * How long access and execution logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * `POST /v1/events` on an API Gateway REST API, in front of the ingest function.
 *
 * REST rather than HTTP API because REST has API keys and usage plans built in: producers
 * authenticate with `x-api-key` with no authorizer function to run or pay for, and each producer's
 * usage plan gives it its own throttle and quota.
 */
export class IngestApi extends Construct {
  public readonly api: RestApi;
  public readonly apiKey: IApiKey;
  public readonly usagePlan: UsagePlan;
  public readonly ingestFunction: PushrailFunction;
  public readonly accessLogGroup: LogGroup;
  /** Base URL of the API (no trailing slash): events go to `${baseUrl}/v1/events`. */
  public readonly baseUrl: string;

  public constructor(scope: Construct, id: string, props: IngestApiProps) {
    super(scope, id);
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    this.ingestFunction = new PushrailFunction(this, 'IngestFunction', {
      entry: 'lambdas/ingest/handler.ts',
      serviceName: 'pushrail-ingest',
      description: 'Pushrail ingest: validates, stores and enqueues events posted to /v1/events',
      memorySize: INGEST_MEMORY_MB,
      quietPlatformLogs: true,
      // API Gateway's integration timeout is 29 s: a longer run would be answered 504 anyway.
      timeout: Duration.seconds(29),
      logRetention,
      environment: {
        [INGEST_ENV.eventsTable]: props.eventsTable.tableName,
        [INGEST_ENV.idempotencyTable]: props.idempotencyTable.tableName,
        [INGEST_ENV.queueUrlBase]: `https://sqs.${Aws.REGION}.${Aws.URL_SUFFIX}/${Aws.ACCOUNT_ID}/`,
        [INGEST_ENV.retentionDays]: String(props.retentionDays),
        // Routes come from the table (adapters/route-cache.ts) when both of these are set.
        [INGEST_ENV.destinationsTable]: props.destinationsTable.tableName,
        [INGEST_ENV.namePrefix]: props.resources.namePrefix,
      },
    });
    const fn = this.ingestFunction.function;
    props.eventsTable.grantReadWriteData(fn);
    props.idempotencyTable.grantReadWriteData(fn);
    // adapters/route-cache.ts: the catalog version (GetItem) and, after a change, every destination
    // (DestinationStore.list, a Scan). Nothing else, and no write.
    props.destinationsTable.grant(fn, ...INGEST_DESTINATIONS_ACTIONS);
    // SendMessage covers SendMessageBatch. No GetQueueUrl: the function builds URLs from names.
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [props.resources.queues.arn] }),
    );

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', { retention: logRetention });

    this.api = new RestApi(this, 'Api', {
      restApiName: `${Stack.of(this).stackName}-ingest`,
      description:
        'Pushrail API: POST /v1/events with x-api-key (producers); /v1/destinations and /v1/audit with IAM (SigV4)',
      // Producers are servers, not browsers spread over the world: no CloudFront edge in front.
      endpointTypes: [EndpointType.REGIONAL],
      // Compressed requests need no setting: API Gateway decompresses gzip and deflate request bodies
      // by default and answers 415 itself for other codings or a body not in the named coding
      // ("Payload compression for REST APIs" and "Call an API method with a compressed payload":
      // https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-gzip-compression-decompression.html).
      // The proxy event then carries the decompressed body with the Content-Encoding header still on
      // it, which the handler allows for. minimumCompressionSize only turns on response compression.
      //
      // No binaryMediaTypes, deliberately. With one, the function would get every body base64-encoded
      // and could refuse invalid UTF-8 (which API Gateway's text conversion hides from it); but base64
      // counts 4/3 against Lambda's 6 MB invocation payload, so bodies over about 4.4 MiB, well inside
      // the 5 MiB the contract promises, would be refused by API Gateway before the function runs.
      // The handler reads isBase64Encoded bodies strictly, so adding one later needs no code change.
      cloudWatchRole: props.createAccountCloudWatchRole ?? true,
      deployOptions: {
        stageName: STAGE_NAME,
        accessLogDestination: new LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: accessLogFormat(),
        // Execution logs at ERROR only; never request/response bodies, which hold customer payloads.
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        // No X-Ray: the function does not trace, so a trace would end at the API Gateway segment.
        tracingEnabled: false,
      },
    });

    // API Gateway writes execution logs to a group it names itself and creates without retention.
    // Creating it first gives it one.
    const executionLogs = new LogGroup(this, 'ExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${this.api.restApiId}/${STAGE_NAME}`,
      retention: logRetention,
    });
    this.api.deploymentStage.node.addDependency(executionLogs);

    const events = this.api.root.addResource('v1').addResource('events');
    const post = events.addMethod(
      'POST',
      // Proxy integration: the function sees the raw request and answers every status itself.
      // No test-invoke permission: the console's test button is not how producers call the API.
      new LambdaIntegration(fn, { proxy: true, allowTestInvoke: false }),
      { apiKeyRequired: true },
    );

    this.apiKey = this.api.addApiKey('ProducerKey', {
      description:
        'Producer API key; read it with `aws apigateway get-api-key --api-key <id> --include-value`',
    });
    this.usagePlan = this.api.addUsagePlan('ProducerUsagePlan', {
      description: 'Throttle (and optional quota) per producer API key',
      throttle: {
        rateLimit: props.throttleRateLimit ?? 100,
        burstLimit: props.throttleBurstLimit ?? 200,
      },
      ...(props.quotaLimit !== undefined
        ? { quota: { limit: props.quotaLimit, period: props.quotaPeriod ?? Period.DAY } }
        : {}),
      apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
    });
    this.usagePlan.addApiKey(this.apiKey);

    this.addJsonGatewayResponses();

    const stage = this.api.deploymentStage.stageName;
    this.baseUrl = `https://${this.api.restApiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}/${stage}`;
    // The stack's ApiUrl output replaces RestApi's own (which ends in "/", so `${url}/v1/events` breaks).
    this.api.node.tryRemoveChild('Endpoint');

    this.acknowledgeNagFindings(post, props.resources);
  }

  /**
   * Errors API Gateway answers itself (before the function runs) get the same JSON shape as the
   * function's errors, so producers parse one format. Bodies come from lambdas/core/errors.ts.
   */
  private addJsonGatewayResponses(): void {
    const add = (id: string, type: ResponseType, body: string, statusCode?: number): void => {
      this.api.addGatewayResponse(id, {
        type,
        ...(statusCode !== undefined ? { statusCode: String(statusCode) } : {}),
        responseHeaders: { 'Content-Type': "'application/json'" },
        templates: { 'application/json': body },
      });
    };
    const json = (error: HttpError): string => JSON.stringify(error.toBody());

    // A missing or wrong key on POST /v1/events.
    const invalidKey = new InvalidApiKeyError();
    add('InvalidApiKey', ResponseType.INVALID_API_KEY, json(invalidKey), invalidKey.statusCode);
    // An unsigned request to an IAM route (a producer's x-api-key alone included), and a path or method
    // that does not exist: API Gateway answers both "Missing Authentication Token", so as not to reveal
    // which routes exist; we keep that, with one body naming both ways in.
    add(
      'MissingAuthenticationToken',
      ResponseType.MISSING_AUTHENTICATION_TOKEN,
      json(MISSING_CREDENTIALS),
      MISSING_CREDENTIALS.statusCode,
    );

    add(
      'RequestTooLarge',
      ResponseType.REQUEST_TOO_LARGE,
      json(
        new HttpError(413, 'PAYLOAD_TOO_LARGE', 'the request body is larger than API Gateway accepts', [
          { field: 'body', message: 'too large' },
        ]),
      ),
      413,
    );
    add(
      'UnsupportedMediaType',
      ResponseType.UNSUPPORTED_MEDIA_TYPE,
      json(
        // Through a proxy integration API Gateway answers 415 itself only for Content-Encoding: a coding
        // it does not decode, or a body that is not in the coding the header names.
        new HttpError(
          415,
          'UNSUPPORTED_MEDIA_TYPE',
          'content-encoding must be gzip, deflate or identity, and the body compressed as it says',
          [{ field: 'content-encoding', message: 'must be gzip, deflate or identity' }],
        ),
      ),
      415,
    );
    add(
      'Throttled',
      ResponseType.THROTTLED,
      json(
        new HttpError(429, 'THROTTLED', 'request rate over the limit of this API key; retry with backoff', [
          { field: 'x-api-key', message: 'rate limit exceeded' },
        ]),
      ),
      429,
    );
    add(
      'QuotaExceeded',
      ResponseType.QUOTA_EXCEEDED,
      json(
        new HttpError(429, 'QUOTA_EXCEEDED', 'request quota of this API key is used up for this period', [
          { field: 'x-api-key', message: 'quota exceeded' },
        ]),
      ),
      429,
    );
    // Status kept (500, 502, 504...): whatever failed, the producer retries with the same key.
    add(
      'Default5xx',
      ResponseType.DEFAULT_5XX,
      json(
        new IngestUnavailableError('the request could not be processed; retry with the same idempotencyKey'),
      ),
    );
    // Any other 4xx API Gateway produces: its own message, in our shape. Mapping templates are VTL:
    // `$context.error.messageString` is the message as a quoted, escaped JSON string.
    add(
      'Default4xx',
      ResponseType.DEFAULT_4XX,
      '{"error":{"code":"REQUEST_REJECTED","message":$context.error.messageString}}',
    );
  }

  /** cdk-nag findings that are the product's contract, each on the resource it concerns, with the reason. */
  private acknowledgeNagFindings(method: Method, resources: RuntimeResources): void {
    NagSuppressions.addResourceSuppressions(
      this.ingestFunction.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "Destinations are runtime data, so their queues are known by the stack's name prefix only " +
            '(<prefix>-<destination id>): ingest may SendMessage to those, and do nothing else on SQS.',
          appliesTo: [nagResource(resources.queues)],
        },
      ],
      true,
    );
    NagSuppressions.addResourceSuppressions(this.api, [
      {
        id: 'AwsSolutions-APIG2',
        reason:
          'The ingest function validates every request with zod (lambdas/core) and answers 400 naming each ' +
          "offending event's index and field path; an API Gateway model would duplicate the schema and " +
          'answer in another format.',
      },
    ]);
    NagSuppressions.addResourceSuppressions(this.api.deploymentStage, [
      {
        id: 'AwsSolutions-APIG3',
        reason:
          'A WAF web ACL is optional (it is billed per request and per rule): the API serves server-to-server ' +
          'calls authenticated by API key and throttled per key by the usage plan. Associate one with the ' +
          'stage where the account policy requires it.',
      },
    ]);
    NagSuppressions.addResourceSuppressions(method, [
      {
        id: 'AwsSolutions-APIG4',
        reason:
          'Producers authenticate with an API key (apiKeyRequired, header x-api-key), checked by API Gateway ' +
          'itself with a usage plan per key: that is the product contract (DESIGN.md).',
      },
      {
        id: 'AwsSolutions-COG4',
        reason:
          'The callers are the vendor services, not end users: they authenticate with an API key (the product ' +
          'contract), so there is no Cognito user pool to authorize against.',
      },
    ]);
    const cloudWatchRole = this.api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRole) {
      NagSuppressions.addResourceSuppressions(cloudWatchRole, [
        {
          id: 'AwsSolutions-IAM4',
          reason:
            "This is the account's API Gateway logging role (one per account and region, shared by every " +
            'REST API), which stage access and execution logging require; AmazonAPIGatewayPushToCloudWatchLogs ' +
            'is the policy AWS maintains for exactly that role.',
          appliesTo: [
            'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs',
          ],
        },
      ]);
    }
  }
}

/**
 * Access logs in JSON (one object per request), with the API key id so each producer can be traced.
 * No request time (each log event has its timestamp) and no protocol: CloudWatch Logs bills by the byte,
 * one line per POST.
 */
function accessLogFormat(): AccessLogFormat {
  return AccessLogFormat.custom(
    JSON.stringify({
      requestId: AccessLogField.contextRequestId(),
      ip: AccessLogField.contextIdentitySourceIp(),
      userAgent: AccessLogField.contextIdentityUserAgent(),
      apiKeyId: AccessLogField.contextIdentityApiKeyId(),
      httpMethod: AccessLogField.contextHttpMethod(),
      resourcePath: AccessLogField.contextResourcePath(),
      status: AccessLogField.contextStatus(),
      responseLength: AccessLogField.contextResponseLength(),
      responseLatencyMs: AccessLogField.contextResponseLatency(),
      integrationStatus: AccessLogField.contextIntegrationStatus(),
      integrationLatencyMs: AccessLogField.contextIntegrationLatency(),
      errorType: AccessLogField.contextErrorResponseType(),
      errorMessage: AccessLogField.contextErrorMessage(),
    }),
  );
}
