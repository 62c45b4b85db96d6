import { relative } from 'node:path';

/**
 * The one line `npm start` prints when everything is up. Tests and scripts wait for READY_PREFIX, so
 * it lives here rather than in start.ts (importing start.ts would start the runtime).
 */
export const READY_PREFIX = 'Pushrail local is ready';

export interface ReadyLineInput {
  readonly apiUrl: string;
  readonly apiKey: string;
  readonly stateFile: string;
  readonly seedEventFile: string;
  /** @default process.cwd() */
  readonly cwd?: string;
}

export function readyLine(input: ReadyLineInput): string {
  const cwd = input.cwd ?? process.cwd();
  const events = `${input.apiUrl}/v1/events`;
  return (
    `${READY_PREFIX}: POST ${events} (details in ${displayPath(input.stateFile, cwd)}; Ctrl-C stops). Try: ` +
    `curl -i -X POST ${events} -H 'content-type: application/json' -H ${shellQuote(`x-api-key: ${input.apiKey}`)} ` +
    `--data-binary @${shellQuote(displayPath(input.seedEventFile, cwd))}`
  );
}

/** A path relative to the working directory when it is inside it, as a user would type it. */
function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith('..') ? rel : path;
}

function shellQuote(value: string): string {
  return /^[\w./@:-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}
