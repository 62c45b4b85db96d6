#!/usr/bin/env node
/**
 * The CDK app: `npx cdk synth|deploy [-c config=path] [-c stackName=Name]
 * [-c customerSecretsArnPattern=arn:aws:secretsmanager:<region>:<account>:secret:<prefix>*]`.
 *
 * Loads and validates the vendor-level settings of the config (vendor, retentionDays, egress), then builds
 * one environment-agnostic stack (no lookups), so synth runs offline with no credentials. The
 * config's destinations are not deployed: they are runtime data, applied with
 * `npx pushrail destinations apply -f`. cdk-nag's AwsSolutions checks run on every synth; an
 * unacknowledged finding fails it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseVendorSettingsText } from '../lambdas/core/config.js';
import { ConfigError } from '../lambdas/core/errors.js';
import { DEFAULT_STACK_NAME, DESTINATIONS_APPLY_HINT, PushrailStack } from '../lib/pushrail-stack.js';

const app = new App();

function contextString(key: string, fallback: string): string {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === 'string' && value.length > 0 ? value : fallback;
}

/** Prints a message (no stack trace: the message says what to fix) and exits 1. */
function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

function loadVendorSettings(path: string): ReturnType<typeof parseVendorSettingsText> {
  let text: string;
  try {
    text = readFileSync(resolve(path), 'utf8');
  } catch (cause) {
    fail(
      `cannot read the Pushrail config ${path}: ${(cause as Error).message} (choose one with -c config=<path>)`,
    );
  }
  try {
    return parseVendorSettingsText(text, path);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

const configPath = contextString('config', 'pushrail.config.json');
const stackName = contextString('stackName', DEFAULT_STACK_NAME);
const customerSecretsArnPattern = contextString('customerSecretsArnPattern', '');
const settings = loadVendorSettings(configPath);

try {
  new PushrailStack(app, stackName, {
    vendor: settings.vendor,
    retentionDays: settings.retentionDays,
    ...(settings.egress ? { egress: settings.egress } : {}),
    ...(customerSecretsArnPattern ? { customerSecretsArnPattern } : {}),
  });
} catch (error) {
  // Construction errors here are input errors (a stack name that cannot prefix queue names, a
  // malformed customerSecretsArnPattern): the message names the fix.
  fail(`cannot build the Pushrail stack: ${(error as Error).message}`);
}

if (settings.destinationCount > 0) {
  // stderr: `cdk synth` prints the template on stdout.
  console.error(
    `${configPath} lists ${settings.destinationCount} destination(s); ${DESTINATIONS_APPLY_HINT.replace('pushrail.config.json', configPath).replace('<stack>', stackName)}`,
  );
}

Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
