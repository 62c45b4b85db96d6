import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONSOLE_HELP, parseConsoleArgs, runConsole } from '../../cli/console-command.js';
import { MANAGEMENT_ROUTES } from '../../lambdas/control/routes.js';

const none = () => false;
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('npx pushrail console arguments', () => {
  it('listens on 4000 by default, or the port given, against the local runtime or a stack', () => {
    expect(parseConsoleArgs([], () => true)).toEqual({
      port: 4000,
      target: { kind: 'local', stateDir: '.pushrail' },
    });
    expect(parseConsoleArgs(['--port', '0', '--stack', 'Prod', '--region', 'eu-west-1'], none)).toEqual({
      port: 0,
      target: { kind: 'stack', stackName: 'Prod', region: 'eu-west-1' },
    });
    expect(parseConsoleArgs(['--help'], none)).toBe('help');
  });

  it('exits 2 with the help for a bad port or an unknown flag', async () => {
    for (const args of [
      ['--port', 'http'],
      ['--port', '70000'],
      ['--port', '-1'],
      ['--host', '0.0.0.0'],
    ]) {
      const err: string[] = [];
      const code = await runConsole(args, {
        io: { out: () => undefined, err: (l) => err.push(l) },
        localStateExists: none,
      });
      expect(code, args.join(' ')).toBe(2);
      expect(err.join('\n')).toContain('Usage: npx pushrail console');
    }
  });

  it('says in its help where it listens and what it refuses', () => {
    expect(CONSOLE_HELP).toContain('127.0.0.1');
    expect(CONSOLE_HELP).toContain('403');
    for (const flag of ['--port', '--stack', '--local', '--state-dir', '--region', '--help'])
      expect(CONSOLE_HELP).toContain(flag);
  });
});

describe('README: the console and the deliveries feed', () => {
  it('documents GET /v1/deliveries, which the stack creates', () => {
    expect(MANAGEMENT_ROUTES.some((r) => r.method === 'GET' && r.path === '/v1/deliveries')).toBe(true);
    expect(readme).toContain(
      '| `GET /v1/deliveries?destinationId=&customerExternalId=&outcome=&from=&to=&cursor=&limit=` |',
    );
  });

  it('has a Console section under Operating Pushrail with the screenshot the browser test takes, and the poll cost', () => {
    const operating = readme.slice(
      readme.indexOf('## Operating Pushrail'),
      readme.indexOf('## Replay (on-call)'),
    );
    expect(operating).toContain('### Console');
    expect(operating).toContain('](docs/console.png)');
    expect(existsSync(new URL('../../docs/console.png', import.meta.url))).toBe(true);
    expect(operating).toMatch(/\*\*3 read units per poll\*\*/);
    expect(operating).toMatch(/\*\*1 write request unit\*\*/);
  });
});
