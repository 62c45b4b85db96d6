import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BACKOFF } from '../../lambdas/core/backoff.js';
import { MAX_EVENT_BYTES, MAX_EVENTS_PER_REQUEST, MAX_REQUEST_BYTES } from '../../lambdas/core/limits.js';
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

  it('has exactly the two quick-start commands', () => {
    const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## How it works'));
    expect(quickStart).toContain('npm ci && npm start');
    expect(quickStart).toContain('npm ci && npm test');
  });
});
