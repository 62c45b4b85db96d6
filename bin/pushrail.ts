#!/usr/bin/env node
/**
 * The CDK app: `npx cdk synth|deploy [-c config=path] [-c stackName=Name]`.
 *
 * Loads and validates the destinations config, then builds one environment-agnostic stack (no
 * lookups), so synth runs offline with no credentials. cdk-nag's AwsSolutions checks run on every
 * synth; an unacknowledged finding fails it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type PushrailConfig, parseConfigText } from '../lambdas/core/config.js';
import { ConfigError } from '../lambdas/core/errors.js';
import { DEFAULT_STACK_NAME, PushrailStack } from '../lib/pushrail-stack.js';

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

function loadConfig(path: string): PushrailConfig {
  let text: string;
  try {
    text = readFileSync(resolve(path), 'utf8');
  } catch (cause) {
    fail(
      `cannot read the Pushrail config ${path}: ${(cause as Error).message} (choose one with -c config=<path>)`,
    );
  }
  try {
    return parseConfigText(text, path);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}

const configPath = contextString('config', 'pushrail.config.json');
const stackName = contextString('stackName', DEFAULT_STACK_NAME);
const config = loadConfig(configPath);

try {
  new PushrailStack(app, stackName, {
    config,
    description: `Pushrail event delivery (${config.vendor}, ${config.destinations.length} destinations)`,
  });
} catch (error) {
  // Construction errors here are input errors (a stack name that cannot prefix queue names, two
  // destination ids that map to one output name): the message names the fix.
  fail(`cannot build the Pushrail stack: ${(error as Error).message}`);
}

Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
