// Regenerates schema/pushrail.config.schema.json from the zod config schema (`npm run schema`).
// test/unit/config-json-schema.test.ts fails when the committed file is stale.
import { writeFileSync } from 'node:fs';
import { CONFIG_JSON_SCHEMA_PATH, renderConfigJsonSchema } from '../lambdas/core/config-json-schema.js';

writeFileSync(CONFIG_JSON_SCHEMA_PATH, renderConfigJsonSchema());
console.log(`wrote ${CONFIG_JSON_SCHEMA_PATH}`);
