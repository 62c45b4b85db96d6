import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type ConfigInput, type PushrailConfig, parseConfig } from '../../lambdas/core/config.js';
import { PushrailStack, type PushrailStackProps } from '../../lib/pushrail-stack.js';

const readJson = (relative: string): unknown =>
  JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8'));

/** The example config (`pushrail.config.json`): the seed's S3 and EventBridge destinations. */
export const SEED_CONFIG_INPUT = readJson('../../pushrail.config.json') as ConfigInput;
export const SEED_CONFIG: PushrailConfig = parseConfig(SEED_CONFIG_INPUT);

/** The vendor-level settings of the example config: all the stack takes. */
export const SEED_SETTINGS = { vendor: SEED_CONFIG.vendor, retentionDays: SEED_CONFIG.retentionDays };

/** The feature flags of cdk.json, so the tests assert the template `cdk deploy` builds. */
export const CDK_CONTEXT = (readJson('../../cdk.json') as { context: Record<string, unknown> }).context;

/**
 * An app with the feature flags of cdk.json and bundling skipped (`aws:cdk:bundling-stacks`: none):
 * one test in cdk-synth.test.ts really bundles.
 */
export function testApp(): App {
  return new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
}

/** A stack of the example's vendor settings (and `props`) in a `testApp()`, and its template. */
export function synthStack(
  props: Partial<PushrailStackProps> = {},
  stackName = 'Pushrail',
): { stack: PushrailStack; template: Template } {
  const stack = new PushrailStack(testApp(), stackName, { ...SEED_SETTINGS, ...props });
  return { stack, template: Template.fromStack(stack) };
}
