import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { CfnQueue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { PushrailStack } from '../../lib/pushrail-stack.js';
import { EXTENDED_CONFIG, testApp } from './fixtures.js';

const AWS_SOLUTIONS = Match.stringLikeRegexp('AwsSolutions-.*');

describe('cdk-nag AwsSolutions checks', () => {
  let annotations: Annotations;
  // Every kind of destination and credentials mode: S3 and EventBridge, ASSUME_ROLE and ACCESS_KEY.
  beforeAll(() => {
    const stack = new PushrailStack(testApp(), 'Pushrail', { config: EXTENDED_CONFIG });
    Aspects.of(stack).add(new AwsSolutionsChecks({ verbose: true }));
    annotations = Annotations.fromStack(stack);
  });

  it('reports no unacknowledged error', () => {
    expect(annotations.findError('*', AWS_SOLUTIONS)).toEqual([]);
  });

  it('reports no unacknowledged warning', () => {
    expect(annotations.findWarning('*', AWS_SOLUTIONS)).toEqual([]);
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
