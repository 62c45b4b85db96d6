import { z } from 'zod';
import { ConfigSchema } from './config.js';

/** The published JSON Schema of the config, generated from the zod schema so the two cannot differ. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(ConfigSchema, {
      io: 'input',
      unrepresentable: 'any',
      target: 'draft-2020-12',
      // A record's string keys (a webhook's `headers`) need no `propertyNames`: every JSON key is a string.
      override: (ctx) => {
        const node = ctx.jsonSchema as { propertyNames?: unknown };
        if (JSON.stringify(node.propertyNames) === '{"type":"string"}') delete node.propertyNames;
      },
    }),
    $id: 'https://pushrail.dev/schema/pushrail.config.schema.json',
    title: 'Pushrail destinations config',
  };
}

export const CONFIG_JSON_SCHEMA_PATH = 'schema/pushrail.config.schema.json';

export function renderConfigJsonSchema(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
