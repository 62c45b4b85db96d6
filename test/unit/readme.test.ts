import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BACKOFF } from '../../lambdas/core/backoff.js';
import {
  KiB,
  MAX_ERROR_DETAILS,
  MAX_ERROR_FIELD_LENGTH,
  MAX_EVENT_BYTES,
  MAX_EVENT_DEPTH,
  MAX_EVENTS_PER_REQUEST,
  MAX_REQUEST_BYTES,
  MiB,
  REQUEST_CONTENT_CODINGS,
} from '../../lambdas/core/limits.js';
import { DESTINATION_TYPES, failureTable, KINDS } from '../../lambdas/destinations/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The README from `heading` to the next heading of the same or a higher level (code blocks are not headings). */
function section(heading: string): string {
  const lines = readme.split('\n');
  const level = /^#+/.exec(heading)?.[0].length ?? 1;
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`README has no "${heading}"`);
  let fenced = false;
  let end = lines.length;
  for (let n = start + 1; n < lines.length; n++) {
    const line = lines[n] as string;
    if (line.startsWith('```')) fenced = !fenced;
    const depth = /^(#+) /.exec(line)?.[1]?.length;
    if (!fenced && depth !== undefined && depth <= level) {
      end = n;
      break;
    }
  }
  return lines.slice(start, end).join('\n');
}

/** Prose with its line breaks and runs of spaces made single spaces, as a reader sees it. */
const prose = (text: string) => text.replace(/\s+/g, ' ');

/** The classification table: per row (`S3`, `shared`, ...), the codes in its permanent and transient cells. */
function classificationRows(): Map<string, { permanent: string[]; transient: string[] }> {
  const rows = new Map<string, { permanent: string[]; transient: string[] }>();
  const lines = section('## Failure classification')
    .split('\n')
    .filter((l) => l.startsWith('|'));
  const codesOf = (cell = '') => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
  lines.forEach((line, i) => {
    if (i === 1) return; // the separator row
    const [name = '', permanent, transient] = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    // The header row keeps its cells' text under 'header'.
    rows.set(i === 0 ? 'header' : name, {
      permanent: i === 0 ? [permanent ?? ''] : codesOf(permanent),
      transient: i === 0 ? [transient ?? ''] : codesOf(transient),
    });
  });
  return rows;
}

/** The table rows that hold a destination type's codes besides its own row. */
const COMMON_ROWS = ['credentials (every kind)', 'shared'];

describe('README', () => {
  it.each(DESTINATION_TYPES.map((type) => [type, failureTable(type)] as const))(
    'lists every %s failure code in the right column of the classification table, and no other',
    (type, table) => {
      const rows = classificationRows();
      const own = [KINDS[type].title, ...COMMON_ROWS].map((name) => {
        const row = rows.get(name);
        if (!row) throw new Error(`the classification table has no row "${name}"`);
        return row;
      });
      const listed = (column: 'permanent' | 'transient') =>
        [...new Set(own.flatMap((row) => row[column]))].sort();
      expect(listed('permanent')).toEqual([...new Set(table.permanent)].sort());
      expect(listed('transient')).toEqual([...new Set(table.transient)].sort());
    },
  );

  it('heads the classification columns with what happens: DLQ at once, or backoff up to the retry horizon', () => {
    const header = classificationRows().get('header');
    expect(header?.permanent).toEqual(['permanent: DLQ on the first failure']);
    expect(header?.transient).toEqual([
      `transient: backoff, up to ${BACKOFF.retryHorizonSeconds / 3600} h, then DLQ`,
    ]);
  });

  it('quotes the size limits the code enforces where it states them', () => {
    expect(prose(section('### `POST /v1/events`'))).toContain(
      `One event is at most ${MAX_EVENT_BYTES.toLocaleString('en-US')} bytes (${MAX_EVENT_BYTES / KiB} KiB) ` +
        `as canonical JSON; a request body at most ${MAX_REQUEST_BYTES.toLocaleString('en-US')} bytes ` +
        `(${MAX_REQUEST_BYTES / MiB} MiB), both as sent and once decompressed.`,
    );
    expect(prose(section('### `POST /v1/events`'))).toContain(
      `The body is one event, or \`{"events": [ ... ]}\` with 1 to ${MAX_EVENTS_PER_REQUEST} events.`,
    );
  });

  it('states the retry schedule the backoff implements', () => {
    expect(prose(section('## How it works'))).toContain(
      `Transient ones come back after an exponential, fully jittered delay (from ${BACKOFF.baseSeconds} s, ` +
        `each ≤ ${Math.ceil(BACKOFF.maxDelaySeconds / 3600)} h) until ` +
        `${BACKOFF.retryHorizonSeconds / 3600} h after the first attempt;`,
    );
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
    const block = /```sh\n([\s\S]*?)```/.exec(section('## Quick start'))?.[1] ?? '';
    const commands = block
      .split('\n')
      .map((line) => line.replace(/#.*$/, '').trim())
      .filter((line) => line !== '');
    expect(commands).toEqual(['npm ci && npm start', 'npm ci && npm test']);
  });
});
