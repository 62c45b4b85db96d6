import { readFile } from 'node:fs/promises';
import { type PushrailConfig, parseConfigText } from '../lambdas/core/config.js';
import { ConfigError } from '../lambdas/core/errors.js';

/** Reads and validates the destinations config; a missing file is a ConfigError like any other. */
export async function loadConfigFile(path: string): Promise<PushrailConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(cause);
    throw new ConfigError(
      path,
      [{ field: '(file)', message: `${reason}; set PUSHRAIL_CONFIG to the config file to use` }],
      { cause },
    );
  }
  return parseConfigText(text, path);
}
