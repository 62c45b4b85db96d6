import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type ConfigInput, type PushrailConfig, parseConfig } from '../../lambdas/core/config.js';
import { PushrailStack } from '../../lib/pushrail-stack.js';

const readJson = (relative: string): unknown =>
  JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8'));

/** The example config (`pushrail.config.json`): the seed's S3 and EventBridge destinations. */
export const SEED_CONFIG_INPUT = readJson('../../pushrail.config.json') as ConfigInput;
export const SEED_CONFIG: PushrailConfig = parseConfig(SEED_CONFIG_INPUT);

/** The secret of the ACCESS_KEY S3 destination of EXTENDED_CONFIG. */
export const S3_KEYS_SECRET_ARN =
  'arn:aws:secretsmanager:us-east-1:123456789012:secret:pushrail/acme-s3-AbCdEf';
/** The secret of the ACCESS_KEY EventBridge destination of EXTENDED_CONFIG. */
export const EB_KEYS_SECRET_ARN =
  'arn:aws:secretsmanager:us-east-1:123456789012:secret:pushrail/acme-eb-GhIjKl';

/**
 * The seed config plus destinations that exercise what the seed does not: access keys from Secrets
 * Manager (S3 and EventBridge), a small S3 batch with a short window, and a higher EventBridge
 * concurrency cap.
 */
export const EXTENDED_CONFIG: PushrailConfig = parseConfig({
  ...SEED_CONFIG_INPUT,
  destinations: [
    ...(SEED_CONFIG_INPUT.destinations ?? []),
    {
      id: 'acme-s3-keys',
      type: 'S3',
      customerExternalId: 'acct_8K2zRq',
      name: 'Customer S3 archive written with an access key',
      bucket: 'acme-pushrail-keys',
      keyPrefix: 'events',
      region: 'us-east-1',
      auth: { mode: 'ACCESS_KEY', secretArn: S3_KEYS_SECRET_ARN },
      bucketOwnerAccountId: '210987654321',
      maxEvents: 10,
      flushIntervalSec: 5,
    },
    {
      id: 'acme-eventbridge-fast',
      type: 'EVENTBRIDGE',
      customerExternalId: 'acct_8K2zRq',
      name: 'Customer bus with a higher PutEvents quota',
      busArn: 'arn:aws:events:us-east-1:123456789012:event-bus/pushrail-fast',
      region: 'us-east-1',
      auth: {
        mode: 'ASSUME_ROLE',
        roleArn: 'arn:aws:iam::123456789012:role/PushrailFastWriter',
        externalId: 'acme-ext-7Pq2',
      },
      maxConcurrency: 5,
    },
    {
      id: 'acme-eventbridge-keys',
      type: 'EVENTBRIDGE',
      customerExternalId: 'acct_8K2zRq',
      name: 'Customer bus reached with an access key',
      busArn: 'arn:aws:events:us-east-1:210987654321:event-bus/pushrail-keys',
      region: 'us-east-1',
      auth: { mode: 'ACCESS_KEY', secretArn: EB_KEYS_SECRET_ARN },
    },
  ],
});

/** The feature flags of cdk.json, so the tests assert the template `cdk deploy` builds. */
const CDK_CONTEXT = (readJson('../../cdk.json') as { context: Record<string, unknown> }).context;

/**
 * An app with the feature flags of cdk.json and bundling skipped (`aws:cdk:bundling-stacks`: none):
 * one test in cdk-synth.test.ts really bundles.
 */
export function testApp(): App {
  return new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
}

/** A stack of `config` in a `testApp()`, and its template. */
export function synthStack(
  config: PushrailConfig = SEED_CONFIG,
  stackName = 'Pushrail',
): { stack: PushrailStack; template: Template } {
  const stack = new PushrailStack(testApp(), stackName, { config });
  return { stack, template: Template.fromStack(stack) };
}
