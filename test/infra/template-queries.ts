import type { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import { TABLES } from '../../lambdas/core/resources.js';
import { tableConstructId } from '../../lib/tables.js';

export interface Resource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
}

export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

/** One (action, resource) pair of an identity policy: statements merged or split alike. */
export interface Permission {
  readonly action: string;
  readonly resource: unknown;
}

export const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });

/** The queue URL base the functions get: `https://sqs.<region>.<suffix>/<account>/`, resolved at deploy. */
export const QUEUE_URL_BASE = {
  'Fn::Join': [
    '',
    [
      'https://sqs.',
      { Ref: 'AWS::Region' },
      '.',
      { Ref: 'AWS::URLSuffix' },
      '/',
      { Ref: 'AWS::AccountId' },
      '/',
    ],
  ],
};

const NO_VALUE = JSON.stringify({ Ref: 'AWS::NoValue' });
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Look-ups in a synthesized template by what a resource is, not by CDK's generated logical ids. */
export class TemplateQueries {
  public readonly resources: Record<string, Resource>;

  public constructor(template: Template) {
    this.resources = template.toJSON().Resources as Record<string, Resource>;
  }

  /** The logical id of the one resource of `type` that `match` picks (`what` names it in a failure). */
  public logicalIdOf(type: string, match: (r: Resource) => boolean, what: string): string {
    const found = Object.entries(this.resources).filter(([, r]) => r.Type === type && match(r));
    expect(
      found.map(([id]) => id),
      what,
    ).toHaveLength(1);
    return (found[0] as [string, Resource])[0];
  }

  public queueId(name: string): string {
    return this.logicalIdOf('AWS::SQS::Queue', (r) => r.Properties.QueueName === name, `queue ${name}`);
  }

  /** A table's logical id: its construct id (`EventStore/SealsTable`) plus CDK's hash. */
  public tableId(role: keyof typeof TABLES): string {
    const pattern = new RegExp(`^EventStore${tableConstructId(TABLES[role])}[0-9A-F]{8}$`);
    const found = Object.keys(this.resources).filter(
      (id) => pattern.test(id) && this.resources[id]?.Type === 'AWS::DynamoDB::Table',
    );
    expect(found, `table ${role}`).toHaveLength(1);
    return found[0] as string;
  }

  /** The one function whose POWERTOOLS_SERVICE_NAME is `service`: its logical id and resource. */
  public functionOf(service: string): [string, Resource] {
    const id = this.logicalIdOf(
      'AWS::Lambda::Function',
      (r) =>
        (r.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
          ?.POWERTOOLS_SERVICE_NAME === service,
      `the function of service ${service}`,
    );
    return [id, this.resources[id] as Resource];
  }

  /** The environment variables of a function. */
  public variablesOf(fn: Resource): Record<string, unknown> {
    return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  }

  /** Every statement of a function role's attached and inline policies, as in the template. */
  public statementsOf(fn: Resource): Statement[] {
    const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const attached = Object.values(this.resources).filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        (r.Properties.Roles as unknown[]).some((role) => same(role, { Ref: roleId })),
    );
    const inline = ((this.resources[roleId] as Resource).Properties.Policies ?? []) as {
      PolicyDocument: { Statement: Statement[] };
    }[];
    return [...attached.map((r) => r.Properties), ...inline].flatMap(
      (p) => (p.PolicyDocument as { Statement: Statement[] }).Statement,
    );
  }

  /**
   * What a function's role may do, as (action, resource) pairs from its attached and inline policies,
   * AWS::NoValue (a table without indexes) left out. Every statement must be an Allow.
   */
  public permissionsOf(fn: Resource): Permission[] {
    const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const attached = Object.values(this.resources).filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        (r.Properties.Roles as unknown[]).some((role) => same(role, { Ref: roleId })),
    );
    const inline = ((this.resources[roleId] as Resource).Properties.Policies ?? []) as {
      PolicyDocument: { Statement: Statement[] };
    }[];
    const statements = [...attached.map((r) => r.Properties), ...inline].flatMap(
      (p) => (p.PolicyDocument as { Statement: Statement[] }).Statement,
    );
    expect(statements.length, `statements of ${roleId}`).toBeGreaterThan(0);
    return toPermissions(statements);
  }

  /** Every (action, resource) pair of every identity policy in the stack, attached or inline. */
  public allPermissions(): Permission[] {
    const statements = Object.values(this.resources).flatMap((r) => {
      if (r.Type === 'AWS::IAM::Policy')
        return (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
      if (r.Type === 'AWS::IAM::Role')
        return ((r.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
          (p) => p.PolicyDocument.Statement,
        );
      return [];
    });
    expect(statements.length).toBeGreaterThan(0);
    return toPermissions(statements);
  }
}

function toPermissions(statements: readonly Statement[]): Permission[] {
  return statements.flatMap((s) => {
    expect(s.Effect).toBe('Allow');
    return [s.Action].flat().flatMap((action) =>
      [s.Resource]
        .flat()
        .filter((resource) => JSON.stringify(resource) !== NO_VALUE)
        .map((resource) => ({ action, resource })),
    );
  });
}

/**
 * An ARN pattern of the stack's account and Region as synthesized (lib/runtime-resources.ts):
 * `arn:<partition>:<service>:<region>:<account>:<tail>`.
 */
export function regionalArn(service: string, tail: string): unknown {
  return {
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        `:${service}:`,
        { Ref: 'AWS::Region' },
        ':',
        { Ref: 'AWS::AccountId' },
        `:${tail}`,
      ],
    ],
  };
}

/** Any role of any account: `arn:<partition>:iam::*:role/*`. */
export const ANY_ROLE = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::*:role/*']] };

/**
 * A statement with its actions sorted and its resources as a list sorted by their JSON (CDK orders
 * them its own way), for exact comparisons: compare with `sortedResources` of the expectation.
 */
export function normalized(s: Statement): { actions: string[]; resources: unknown[]; condition?: unknown } {
  return {
    actions: [s.Action].flat().sort(),
    resources: sortedResources([s.Resource].flat()),
    ...(s.Condition !== undefined ? { condition: s.Condition } : {}),
  };
}

/** Resources in the order `normalized` gives them. */
export function sortedResources(resources: readonly unknown[]): unknown[] {
  return [...resources].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

/**
 * The statements evaluating health adds to a function's role (lib/health-permissions.ts): the
 * rollups in the attempts table, queue depths by the stack's prefix, queue ages, the default bus.
 */
export function healthStatements(queries: TemplateQueries, stackName: string): unknown[] {
  return [
    { actions: ['dynamodb:Query', 'dynamodb:UpdateItem'], resources: [arnOf(queries.tableId('attempts'))] },
    { actions: ['sqs:GetQueueAttributes'], resources: [regionalArn('sqs', `${stackName}-*`)] },
    { actions: ['cloudwatch:GetMetricData'], resources: ['*'] },
    { actions: ['events:PutEvents'], resources: [regionalArn('events', 'event-bus/default')] },
  ];
}
