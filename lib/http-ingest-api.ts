import { Aws, Duration, Stack } from 'aws-cdk-lib';
import { AccessLogField, AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { AUTHORIZER_ENV } from '../lambdas/core/function-env.js';
import { AUTHORIZER_MEMORY_MB } from '../lambdas/core/resources.js';
import { EVENTS_PATH } from './ingest-api.js';
import { PushrailFunction } from './pushrail-function.js';

/** How long API Gateway keeps an authorizer's answer for one x-api-key value. */
export const AUTHORIZER_CACHE_TTL = Duration.minutes(5);
/** The identity source: the header API Gateway caches the authorizer's answer by. */
export const API_KEY_IDENTITY_SOURCE = '$request.header.x-api-key';
/** API Gateway's control-plane GET on the producer usage plan's keys and on API keys. */
export const AUTHORIZER_ACTIONS = ['apigateway:GET'] as const;

export interface HttpIngestApiProps {
  /** The REST API's ingest function: the same function, the same behaviour, on both endpoints. */
  readonly ingestFunction: IFunction;
  /** The REST API's producer usage plan: its enabled keys are the keys this API accepts. */
  readonly usagePlanId: string;
  /** @default 100 (as the usage plan's per-key rate) */
  readonly throttleRateLimit?: number;
  /** @default 200 (as the usage plan's per-key burst) */
  readonly throttleBurstLimit?: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

/**
 * `POST /v1/events` on an API Gateway HTTP API, beside the REST API: for single-event producers, at
 * $1.00 per million requests instead of REST's $3.50 (README "Performance and cost", lever 6).
 *
 * An HTTP API has no API keys or usage plans, so a Lambda authorizer checks `x-api-key` against the
 * REST API's producer plan (lambdas/authorizer): one set of keys for both endpoints. What it gives up:
 * per-key throttles and quotas become one stage throttle, and API Gateway's own 401/403 answers are
 * `{"message": ...}`, which an HTTP API cannot customize.
 */
export class HttpIngestApi extends Construct {
  public readonly api: HttpApi;
  public readonly stage: HttpStage;
  public readonly authorizerFunction: PushrailFunction;
  public readonly accessLogGroup: LogGroup;
  /** Base URL (no trailing slash): events go to `${baseUrl}/v1/events`. */
  public readonly baseUrl: string;

  public constructor(scope: Construct, id: string, props: HttpIngestApiProps) {
    super(scope, id);
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    this.authorizerFunction = new PushrailFunction(this, 'AuthorizerFunction', {
      entry: 'lambdas/authorizer/handler.ts',
      serviceName: 'pushrail-authorizer',
      description: "Pushrail HTTP API authorizer: x-api-key against the REST API's producer usage plan",
      memorySize: AUTHORIZER_MEMORY_MB,
      // API Gateway waits at most 10 s for an authorizer.
      timeout: Duration.seconds(10),
      quietPlatformLogs: true,
      logRetention,
      environment: { [AUTHORIZER_ENV.usagePlanId]: props.usagePlanId },
    });
    // GetUsagePlanKeys on the producer plan, GetApiKey (with its value) on the keys found there. Keys
    // are created after the deploy, so their ids are not known here: /apikeys/* is the narrowest
    // resource API Gateway offers for GetApiKey.
    this.authorizerFunction.function.addToRolePolicy(
      new PolicyStatement({
        actions: [...AUTHORIZER_ACTIONS],
        resources: [
          `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/usageplans/${props.usagePlanId}/keys`,
          `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/apikeys/*`,
        ],
      }),
    );

    const authorizer = new HttpLambdaAuthorizer('ApiKeyAuthorizer', this.authorizerFunction.function, {
      authorizerName: 'producer-api-key',
      responseTypes: [HttpLambdaResponseType.SIMPLE],
      // API Gateway caches the answer per value of the identity source (the key itself) for the TTL,
      // per API: a producer's steady traffic invokes the authorizer about once per 5 minutes per key
      // (per gateway node; AWS does not promise a single cache), not per request. A request without
      // the header is answered 401 by API Gateway before any authorizer runs.
      identitySource: [API_KEY_IDENTITY_SOURCE],
      resultsCacheTtl: AUTHORIZER_CACHE_TTL,
    });

    this.api = new HttpApi(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-ingest-http`,
      description: 'Pushrail POST /v1/events for single-event producers (x-api-key, Lambda authorizer)',
      // One stage of our own below, with a throttle and access logs.
      createDefaultStage: false,
    });
    this.api.addRoutes({
      path: EVENTS_PATH,
      methods: [HttpMethod.POST],
      integration: new HttpLambdaIntegration('Ingest', props.ingestFunction, {
        payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
      }),
      authorizer,
    });

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', { retention: logRetention });
    this.stage = new HttpStage(this, 'Stage', {
      httpApi: this.api,
      // `$default`: no stage segment in the URL, so `${baseUrl}/v1/events` is the path ingest sees.
      stageName: '$default',
      autoDeploy: true,
      // The default route throttle of the stage: the usage plan's per-key figures, for all keys at once.
      throttle: { rateLimit: props.throttleRateLimit ?? 100, burstLimit: props.throttleBurstLimit ?? 200 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: httpAccessLogFormat(),
      },
    });
    this.baseUrl = `https://${this.api.apiId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}`;

    NagSuppressions.addResourceSuppressions(
      this.authorizerFunction.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Producer keys are created after the deploy, so their ids are unknown here; GetApiKey (to see ' +
            'whether a key of the producer usage plan is enabled, and its value) takes /apikeys/<id>.',
          appliesTo: ['Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::/apikeys/*'],
        },
      ],
      true,
    );
  }
}

/**
 * Access logs in JSON, as the REST stage's (lib/ingest-api.ts), with the HTTP API's variables: the
 * key id the authorizer passed on instead of `identity.apiKeyId`, and its error if it failed; like it,
 * no request time (each log event has its timestamp) and no protocol.
 */
function httpAccessLogFormat(): AccessLogFormat {
  return AccessLogFormat.custom(
    JSON.stringify({
      requestId: AccessLogField.contextRequestId(),
      ip: AccessLogField.contextIdentitySourceIp(),
      userAgent: AccessLogField.contextIdentityUserAgent(),
      apiKeyId: '$context.authorizer.apiKeyId',
      httpMethod: AccessLogField.contextHttpMethod(),
      routeKey: '$context.routeKey',
      status: AccessLogField.contextStatus(),
      responseLength: AccessLogField.contextResponseLength(),
      responseLatencyMs: AccessLogField.contextResponseLatency(),
      integrationStatus: AccessLogField.contextIntegrationStatus(),
      integrationLatencyMs: AccessLogField.contextIntegrationLatency(),
      authorizerError: '$context.authorizer.error',
      errorMessage: AccessLogField.contextErrorMessage(),
    }),
  );
}
