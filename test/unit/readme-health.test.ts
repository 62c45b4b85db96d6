import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HEALTH_EVENT_DETAIL_TYPE, HEALTH_EVENT_SOURCE } from '../../lambdas/adapters/health-announcer.js';
import { MANAGEMENT_ROUTES } from '../../lambdas/control/routes.js';
import { LATENCY_BUCKETS } from '../../lambdas/core/health-rollup.js';
import { HEALTH_RULES, healthRulesMarkdown } from '../../lambdas/core/health-rules.js';
import { HEALTH_WINDOW } from '../../lambdas/observe/health.js';

/** README "Operating Pushrail" → "Health" says what the code does: the rules table above all. */

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function section(heading: string): string {
  const lines = readme.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`README has no "${heading}"`);
  const level = /^#+/.exec(heading)?.[0].length ?? 1;
  let fenced = false;
  for (let n = start + 1; n < lines.length; n++) {
    const line = lines[n] as string;
    if (line.startsWith('```')) fenced = !fenced;
    const depth = /^(#+) /.exec(line)?.[1]?.length;
    if (!fenced && depth !== undefined && depth <= level) return lines.slice(start, n).join('\n');
  }
  return lines.slice(start).join('\n');
}

const health = section('### Health');

describe('README: Health', () => {
  it('sits under "Operating Pushrail"', () => {
    expect(section('## Operating Pushrail')).toContain('### Health');
  });

  it('shows the rules table exactly as core/health-rules.ts has it', () => {
    const rendered = healthRulesMarkdown();
    const start = health.indexOf('| # | Status |');
    expect(start).toBeGreaterThan(0);
    const shown = health
      .slice(start)
      .split('\n')
      .filter((_, i, all) => all.slice(0, i + 1).every((l) => l.startsWith('|')))
      .join('\n');
    expect(shown).toBe(rendered);
    expect(shown.split('\n')).toHaveLength(HEALTH_RULES.length + 2);
  });

  it('names the notification as the announcer puts it, the window, and the histogram', () => {
    expect(health).toContain(`\`${HEALTH_EVENT_SOURCE}\``);
    expect(health).toContain(`\`${HEALTH_EVENT_DETAIL_TYPE}\``);
    expect(health).toContain(`"window": "${HEALTH_WINDOW}"`);
    expect(health).toContain(`${LATENCY_BUCKETS}-bucket latency histogram`);
    expect(health).toContain('notificationsQueueUrl');
  });

  it('documents both health routes, which the stack creates', () => {
    for (const path of ['/v1/health', '/v1/destinations/{id}/health']) {
      expect(MANAGEMENT_ROUTES.some((r) => r.method === 'GET' && r.path === path)).toBe(true);
      expect(health).toContain(`GET ${path}`);
    }
  });
});
