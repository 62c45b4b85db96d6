import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { CfnQueue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { PushrailStack, type PushrailStackProps } from '../../lib/pushrail-stack.js';
import { SEED_SETTINGS, testApp } from './fixtures.js';

const AWS_SOLUTIONS = Match.stringLikeRegexp('AwsSolutions-.*');

interface Suppression {
  readonly id: string;
  readonly reason: string;
  readonly applies_to?: unknown[];
}

/** A stack with the AwsSolutions checks applied, as bin/pushrail.ts applies them. */
function checked(props: Partial<PushrailStackProps> = {}): PushrailStack {
  const stack = new PushrailStack(testApp(), 'Pushrail', { ...SEED_SETTINGS, ...props });
  Aspects.of(stack).add(new AwsSolutionsChecks({ verbose: true }));
  return stack;
}

/** Every cdk-nag acknowledgement in the stack, with the path of the resource it is on. */
function suppressions(stack: Stack): { path: string; suppression: Suppression }[] {
  const found: { path: string; suppression: Suppression }[] = [];
  const visit = (node: IConstruct) => {
    const cfn = node.node.defaultChild ?? node;
    const metadata = (cfn as { cfnOptions?: { metadata?: Record<string, unknown> } }).cfnOptions?.metadata;
    const rules = (metadata?.cdk_nag as { rules_to_suppress?: Suppression[] } | undefined)?.rules_to_suppress;
    for (const suppression of rules ?? []) found.push({ path: node.node.path, suppression });
    for (const child of node.node.children) visit(child);
  };
  visit(stack);
  // A resource's default child is visited twice (as itself and as its parent's default child).
  return [...new Map(found.map((f) => [JSON.stringify(f), f])).values()];
}

describe('cdk-nag AwsSolutions checks', () => {
  // Once with the defaults, once with a customer secrets pattern (one more acknowledged resource).
  describe.each([
    ['defaults', {}],
    [
      'a customer secrets pattern',
      { customerSecretsArnPattern: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:customers/*' },
    ],
  ] as const)('with %s', (_name, props) => {
    const stack = checked(props);
    const annotations = Annotations.fromStack(stack);

    it('reports no unacknowledged error', () => {
      expect(annotations.findError('*', AWS_SOLUTIONS)).toEqual([]);
    });

    it('reports no unacknowledged warning', () => {
      expect(annotations.findWarning('*', AWS_SOLUTIONS)).toEqual([]);
    });

    it('gives every acknowledgement a reason of its own, and names the wildcard resources it covers', () => {
      const all = suppressions(stack);
      expect(all.length).toBeGreaterThan(0);
      for (const { path, suppression } of all) {
        expect(suppression.reason.length, `${path} ${suppression.id}`).toBeGreaterThanOrEqual(80);
        // IAM5 (wildcards) is acknowledged per resource pattern, never for a whole policy.
        if (suppression.id === 'AwsSolutions-IAM5') {
          expect(suppression.applies_to?.length ?? 0, `${path} IAM5 appliesTo`).toBeGreaterThan(0);
        }
      }
    });

    it('acknowledges AssumeRole on any role with the ExternalId as the reason', () => {
      const assume = suppressions(stack).filter(({ suppression }) =>
        JSON.stringify(suppression.applies_to ?? []).includes(':iam::*:role/*'),
      );
      // One consumer per kind.
      expect(assume.length).toBeGreaterThanOrEqual(2);
      for (const { suppression } of assume) {
        expect(suppression.reason).toContain('ExternalId');
        expect(suppression.reason).toContain('trust policy');
      }
    });
  });

  it('does flag a non-compliant resource (the checks really run)', () => {
    const app = new App();
    const stack = new Stack(app, 'Canary');
    new CfnQueue(stack, 'UnencryptedQueue', { sqsManagedSseEnabled: false });
    Aspects.of(stack).add(new AwsSolutionsChecks());
    const errors = Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-SQS2'));
    expect(errors).toHaveLength(1);
  });
});
