import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { AUTHORIZER_ENV } from '../../lambdas/core/function-env.js';
import { synthStack } from './fixtures.js';
import { type Resource, TemplateQueries } from './template-queries.js';

/** The one resource of `type` in the template. */
function only(q: TemplateQueries, type: string): [string, Resource] {
  const id = q.logicalIdOf(type, () => true, type);
  return [id, q.resources[id] as Resource];
}

describe('HTTP API for single-event producers', () => {
  let template: Template;
  let q: TemplateQueries;
  beforeAll(() => {
    template = synthStack().template;
    q = new TemplateQueries(template);
  });

  it('has exactly one route, POST /v1/events, through the Lambda authorizer, to the REST API’s ingest function (payload 2.0)', () => {
    const [apiId] = only(q, 'AWS::ApiGatewayV2::Api');
    const [, route] = only(q, 'AWS::ApiGatewayV2::Route');
    expect(route.Properties.RouteKey).toBe('POST /v1/events');
    expect(route.Properties.ApiId).toEqual({ Ref: apiId });
    expect(route.Properties.AuthorizationType).toBe('CUSTOM');
    const [authorizerId] = only(q, 'AWS::ApiGatewayV2::Authorizer');
    expect(route.Properties.AuthorizerId).toEqual({ Ref: authorizerId });

    const [, integration] = only(q, 'AWS::ApiGatewayV2::Integration');
    expect(integration.Properties).toMatchObject({
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
    const [ingestId] = q.functionOf('pushrail-ingest');
    expect(JSON.stringify(integration.Properties.IntegrationUri)).toContain(ingestId);
  });

  it('authorizes with simple responses on x-api-key, the answer cached 5 minutes per key', () => {
    const [, authorizer] = only(q, 'AWS::ApiGatewayV2::Authorizer');
    expect(authorizer.Properties).toMatchObject({
      AuthorizerType: 'REQUEST',
      AuthorizerPayloadFormatVersion: '2.0',
      EnableSimpleResponses: true,
      IdentitySource: ['$request.header.x-api-key'],
      AuthorizerResultTtlInSeconds: 300,
    });
    const [authorizerFnId] = q.functionOf('pushrail-authorizer');
    expect(JSON.stringify(authorizer.Properties.AuthorizerUri)).toContain(authorizerFnId);
  });

  it('gives the authorizer the producer usage plan and apigateway:GET on its keys and on API keys only', () => {
    const [, fn] = q.functionOf('pushrail-authorizer');
    const [planId] = only(q, 'AWS::ApiGateway::UsagePlan');
    expect(q.variablesOf(fn)[AUTHORIZER_ENV.usagePlanId]).toEqual({ Ref: planId });
    const permissions = q.permissionsOf(fn).filter((p) => !String(p.action).startsWith('logs:'));
    expect(permissions.map((p) => p.action)).toEqual(['apigateway:GET', 'apigateway:GET']);
    const resources = permissions.map((p) => JSON.stringify(p.resource));
    expect(
      resources.some((r) => r.includes('/usageplans/') && r.includes(planId) && r.includes('/keys')),
    ).toBe(true);
    expect(resources.some((r) => r.includes('::/apikeys/*'))).toBe(true);
  });

  it('throttles the stage’s default route at the usage plan’s figures and writes JSON access logs', () => {
    const [, stage] = only(q, 'AWS::ApiGatewayV2::Stage');
    expect(stage.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
    });
    const settings = stage.Properties.AccessLogSettings as { Format: string; DestinationArn: unknown };
    expect(JSON.parse(settings.Format)).toMatchObject({
      requestId: '$context.requestId',
      apiKeyId: '$context.authorizer.apiKeyId',
      status: '$context.status',
    });
    expect(JSON.stringify(settings.DestinationArn)).toContain('HttpIngestApiAccessLogs');
  });

  it('outputs the base URL as HttpIngestUrl', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const [apiId] = only(q, 'AWS::ApiGatewayV2::Api');
    const value = JSON.stringify(outputs.HttpIngestUrl?.Value);
    expect(value).toContain(`"Ref":"${apiId}"`);
    expect(value).toContain('.execute-api.');
  });
});
