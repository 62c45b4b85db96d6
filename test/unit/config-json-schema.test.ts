import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_JSON_SCHEMA_PATH, renderConfigJsonSchema } from '../../lambdas/core/config-json-schema.js';

/**
 * The published JSON Schema of the config is generated from the zod schema (`npm run schema`); the
 * committed copy must not go stale, and the example config must point editors at it.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG_PATH = resolve(ROOT, 'pushrail.config.json');
const SCHEMA_PATH = resolve(ROOT, CONFIG_JSON_SCHEMA_PATH);

const committedSchemaText = () => readFileSync(SCHEMA_PATH, 'utf8');
const exampleConfig = () => JSON.parse(readFileSync(CONFIG_PATH, 'utf8')) as Record<string, unknown>;

type Schema = { [keyword: string]: unknown };

/**
 * A validator for exactly the JSON Schema keywords the generated schema uses (checked below), so the
 * test can tell whether an editor would accept a config without a JSON Schema library.
 */
function validate(schema: Schema, value: unknown, path = '$'): string[] {
  const errors: string[] = [];
  const fail = (message: string) => errors.push(`${path}: ${message}`);
  if (Array.isArray(schema.oneOf)) {
    const passing = (schema.oneOf as Schema[]).filter((s) => validate(s, value, path).length === 0).length;
    if (passing !== 1) fail(`matches ${passing} of the oneOf branches`);
  }
  if ('const' in schema && value !== schema.const) fail(`is not ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) fail('is not in enum');
  const type = schema.type;
  if (type === 'object') {
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      return [...errors, `${path}: not an object`];
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required ?? []) as string[]) if (!(key in object)) fail(`misses ${key}`);
    for (const [key, child] of Object.entries(object)) {
      const sub = properties[key];
      if (sub) errors.push(...validate(sub, child, `${path}.${key}`));
      else if (schema.additionalProperties === false) fail(`has unknown property ${key}`);
    }
  } else if (type === 'array') {
    if (!Array.isArray(value)) return [...errors, `${path}: not an array`];
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) fail('too few items');
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) fail('too many items');
    value.forEach((item, i) => {
      errors.push(...validate(schema.items as Schema, item, `${path}[${i}]`));
    });
  } else if (type === 'string') {
    if (typeof value !== 'string') return [...errors, `${path}: not a string`];
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) fail('too short');
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) fail('too long');
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value))
      fail('breaks pattern');
  } else if (type === 'number' || type === 'integer') {
    if (typeof value !== 'number') return [...errors, `${path}: not a number`];
    if (type === 'integer' && !Number.isInteger(value)) fail('not an integer');
    if (typeof schema.minimum === 'number' && value < schema.minimum) fail(`below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) fail(`above ${schema.maximum}`);
  }
  return errors;
}

describe('schema/pushrail.config.schema.json', () => {
  it('equals what renderConfigJsonSchema() generates from the zod schema', () => {
    expect(
      committedSchemaText(),
      `${CONFIG_JSON_SCHEMA_PATH} is stale: run \`npm run schema\` and commit the result`,
    ).toBe(renderConfigJsonSchema());
  });

  it("is referenced by pushrail.config.json's $schema", () => {
    const ref = exampleConfig().$schema;
    expect(typeof ref).toBe('string');
    expect(resolve(dirname(CONFIG_PATH), ref as string)).toBe(SCHEMA_PATH);
  });

  it('is a draft 2020-12 schema with an $id and a title', () => {
    const schema = JSON.parse(committedSchemaText()) as Schema;
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$id).toMatch(/pushrail\.config\.schema\.json$/);
    expect(schema.title).toEqual(expect.any(String));
  });

  it('uses only keywords the test validator understands, and patterns that compile with the u flag', () => {
    const known = new Set([
      ...['$schema', '$id', 'title', 'description', 'default', 'type', 'properties', 'required'],
      ...['additionalProperties', 'items', 'minItems', 'maxItems', 'oneOf', 'const', 'enum'],
      ...['minLength', 'maxLength', 'pattern', 'minimum', 'maximum'],
    ]);
    const unknown: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const item of node) walk(item);
        return;
      }
      if (node === null || typeof node !== 'object') return;
      for (const [keyword, child] of Object.entries(node)) {
        if (!known.has(keyword)) unknown.push(keyword);
        if (keyword === 'pattern') expect(() => new RegExp(child as string, 'u')).not.toThrow();
        if (keyword === 'properties') Object.values(child as object).forEach(walk);
        else walk(child);
      }
    };
    walk(JSON.parse(committedSchemaText()));
    expect(unknown).toEqual([]);
  });

  it('accepts the committed example config (so editors show no false errors)', () => {
    expect(validate(JSON.parse(committedSchemaText()) as Schema, exampleConfig())).toEqual([]);
  });

  it('carries the ranges and strictness of the zod schema', () => {
    const schema = JSON.parse(committedSchemaText()) as Schema;
    const withBatch = exampleConfig();
    (withBatch.destinations as Record<string, unknown>[])[0] = {
      ...(withBatch.destinations as Record<string, unknown>[])[0],
      batchSizeMb: 6,
    };
    expect(validate(schema, withBatch)).not.toEqual([]);
    expect(validate(schema, { ...exampleConfig(), vendr: 'acme' })).toContain(
      '$: has unknown property vendr',
    );
  });
});
