import { Aws } from 'aws-cdk-lib';
import { queueNames } from '../lambdas/core/resources.js';

/**
 * ARN patterns of what exists only at run time: the queues the provisioner creates per destination,
 * the secrets the management API stores, the customers' roles. Destinations are table data, so IAM
 * cannot list them at deploy time; these patterns are the tightest scope that still covers every one.
 *
 * Each pattern comes in two spellings: `arn` (with CloudFormation's pseudo parameters, for policies)
 * and `nag` (as cdk-nag prints a finding's resource, for the acknowledgement's `appliesTo`).
 */
export interface ArnPattern {
  readonly arn: string;
  readonly nag: string;
}

/** The name prefix of the secrets Pushrail owns (adapters/owned-secrets.ts `OwnedSecrets.nameOf`). */
export function ownedSecretNamePrefix(namePrefix: string): string {
  return `pushrail/${namePrefix}/`;
}

interface Pseudo {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

const DEPLOY: Pseudo = { partition: Aws.PARTITION, region: Aws.REGION, account: Aws.ACCOUNT_ID };
const NAG: Pseudo = {
  partition: '<AWS::Partition>',
  region: '<AWS::Region>',
  account: '<AWS::AccountId>',
};

function pattern(build: (p: Pseudo) => string): ArnPattern {
  return { arn: build(DEPLOY), nag: build(NAG) };
}

export class RuntimeResources {
  /**
   * Every queue of the stack's destinations, work queues and DLQs alike (`<prefix>-<id>` and
   * `<prefix>-<id>-dlq`, core/resources.ts queueNames). A stack whose name is this one's plus `-...`
   * (`Pushrail` and `Pushrail-staging`) would match too: give stacks in one account and Region names
   * that are not each other's prefix followed by "-".
   */
  public readonly queues: ArnPattern;
  /**
   * The DLQs (`<prefix>-<id>-dlq`). A work queue whose destination id itself ends in `-dlq` matches
   * too; ids are not told apart by their suffix anywhere.
   */
  public readonly deadLetterQueues: ArnPattern;
  /** The secrets Pushrail stores for access keys posted to the management API. */
  public readonly ownedSecrets: ArnPattern;
  /** Every event source mapping of the account and Region (Lambda has no names to scope them by). */
  public readonly eventSourceMappings: ArnPattern;
  /**
   * Any role in any account: the customers' roles are runtime data. The guard is the customer's trust
   * policy, which names the vendor's account and requires the destination's ExternalId.
   */
  public readonly customerRoles: ArnPattern;
  /** The per-destination alarms the provisioner puts (`<prefix>-<id>-queue-age`, core/queue-age-alarm.ts). */
  public readonly queueAlarms: ArnPattern;

  public constructor(public readonly namePrefix: string) {
    // Fails early, naming the rule, if the prefix cannot prefix queue names.
    queueNames(namePrefix, 'x');
    this.queues = pattern((p) => `arn:${p.partition}:sqs:${p.region}:${p.account}:${namePrefix}-*`);
    this.deadLetterQueues = pattern(
      (p) => `arn:${p.partition}:sqs:${p.region}:${p.account}:${namePrefix}-*-dlq`,
    );
    this.ownedSecrets = pattern(
      (p) =>
        `arn:${p.partition}:secretsmanager:${p.region}:${p.account}:secret:${ownedSecretNamePrefix(namePrefix)}*`,
    );
    this.eventSourceMappings = pattern(
      (p) => `arn:${p.partition}:lambda:${p.region}:${p.account}:event-source-mapping:*`,
    );
    this.customerRoles = pattern((p) => `arn:${p.partition}:iam::*:role/*`);
    this.queueAlarms = pattern(
      (p) => `arn:${p.partition}:cloudwatch:${p.region}:${p.account}:alarm:${namePrefix}-*-queue-age`,
    );
  }
}

/** cdk-nag's `appliesTo` entry of a wildcard resource. */
export function nagResource(pattern: ArnPattern | string): string {
  return `Resource::${typeof pattern === 'string' ? pattern : pattern.nag}`;
}
