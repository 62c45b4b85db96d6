import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BACKOFF } from '../../lambdas/core/backoff.js';
import {
  MAX_ERROR_DETAILS,
  MAX_ERROR_FIELD_LENGTH,
  MAX_EVENT_BYTES,
  MAX_EVENT_DEPTH,
  MAX_EVENTS_PER_REQUEST,
  MAX_REQUEST_BYTES,
  REQUEST_CONTENT_CODINGS,
} from '../../lambdas/core/limits.js';
import { DESTINATION_TYPES, failureTable } from '../../lambdas/destinations/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it.each(DESTINATION_TYPES.map((type) => [type, failureTable(type)] as const))(
    'lists every %s failure code of the classification table',
    (_type, table) => {
      const missing = [...table.permanent, ...table.transient].filter(
        (code) => !readme.includes(`\`${code}\``),
      );
      expect(missing).toEqual([]);
    },
  );

  it('quotes the limits the code enforces', () => {
    expect(readme).toContain(MAX_EVENT_BYTES.toLocaleString('en-US'));
    expect(readme).toContain(MAX_REQUEST_BYTES.toLocaleString('en-US'));
    expect(readme).toContain(`1 to ${MAX_EVENTS_PER_REQUEST} events`);
    expect(readme).toContain(`${BACKOFF.baseSeconds} s`);
  });

  it('quotes the limits on hostile input the code enforces, and welcomes compressed batches', () => {
    // Whitespace folded: the README wraps its sentences.
    const api = readme
      .slice(readme.indexOf('### `POST /v1/events`'), readme.indexOf('**Why a REST API'))
      .replace(/\s+/g, ' ');
    expect(api).toContain(`nest at most ${MAX_EVENT_DEPTH} levels in an event`);
    expect(api).toContain(`nests over ${MAX_EVENT_DEPTH} levels`);
    expect(api).toContain('both as sent and once decompressed');
    expect(api).toContain(`at most ${MAX_ERROR_DETAILS} \`details\``);
    expect(api).toContain(`field paths of at most ${MAX_ERROR_FIELD_LENGTH} characters`);
    for (const coding of REQUEST_CONTENT_CODINGS) expect(api).toContain(`\`${coding}\``);
    expect(api).toContain('**Compressed batches are welcome.**');
  });

  it('has exactly the two quick-start commands', () => {
    const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## How it works'));
    expect(quickStart).toContain('npm ci && npm start');
    expect(quickStart).toContain('npm ci && npm test');
  });
});
