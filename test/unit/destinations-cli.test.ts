import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { changedFields, configFieldsOf, formatPlan, planApply } from '../../cli/destinations/apply-plan.js';
import { DESTINATIONS_HELP, parseDestinationsArgs, SUBCOMMANDS } from '../../cli/destinations/args.js';
import { redact } from '../../cli/destinations/output.js';
import { resolveApiTarget } from '../../cli/target.js';
import { UsageError } from '../../cli/usage-error.js';
import { parseConfig } from '../../lambdas/core/config.js';
import { SEED_CONFIG_INPUT } from '../infra/fixtures.js';

/** `npx pushrail destinations`: argument parsing and the apply diff, without an API. */

const noLocal = () => false;
const parse = (...args: string[]) => parseDestinationsArgs(args, noLocal);
const command = (...args: string[]) => {
  const parsed = parse(...args);
  if (parsed === 'help') throw new Error('help');
  return parsed;
};

describe('parseDestinationsArgs', () => {
  it('parses each command with its id, file and flags', () => {
    expect(parse('list', '--customer', 'acct_1', '--json')).toMatchObject({
      command: 'list',
      customer: 'acct_1',
      json: true,
    });
    expect(parse('get', 'acme-s3')).toMatchObject({ command: 'get', id: 'acme-s3', json: false });
    expect(parse('create', '-f', 'd.json')).toMatchObject({ command: 'create', file: 'd.json' });
    expect(parse('update', '--file', 'd.json', '--if-match', '"3"')).toMatchObject({
      file: 'd.json',
      ifMatch: 3,
    });
    expect(parse('delete', 'x', '--force')).toMatchObject({ command: 'delete', id: 'x', force: true });
    expect(parse('apply', '-f', 'p.json', '--prune', '--dry-run')).toMatchObject({
      prune: true,
      dryRun: true,
    });
    for (const command of ['pause', 'resume', 'test'])
      expect(parse(command, 'x')).toMatchObject({ command, id: 'x' });
  });

  it('targets the local runtime when its local.json exists, else the Pushrail stack, as replay does', () => {
    expect(command('list').target).toEqual({ kind: 'stack', stackName: 'Pushrail' });
    expect(command('list', '--stack', 'Prod', '--region', 'eu-west-1').target).toEqual({
      kind: 'stack',
      stackName: 'Prod',
      region: 'eu-west-1',
    });
    expect(parseDestinationsArgs(['list'], (dir) => dir === '.pushrail')).toMatchObject({
      target: { kind: 'local', stateDir: '.pushrail' },
    });
    expect(parseDestinationsArgs(['list', '--stack', 'Prod'], () => true)).toMatchObject({
      target: { kind: 'stack', stackName: 'Prod' },
    });
    expect(command('list', '--local', '--state-dir', 'tmp/x').target).toEqual({
      kind: 'local',
      stateDir: 'tmp/x',
    });
  });

  it.each([
    [['frob'], /unknown command "frob"/],
    [[], /a command is required/],
    [['get'], /get takes one destination id/],
    [['get', 'a', 'b'], /get takes one destination id/],
    [['create'], /create needs -f FILE/],
    [['list', '--prune'], /list does not take --prune/],
    [['delete', 'x', '--dry-run'], /delete does not take --dry-run/],
    [['apply', '-f', 'p.json', '--json'], /apply does not take --json/],
    [['update', '-f', 'd.json', '--if-match', 'abc'], /--if-match must be a version number/],
    [['list', '--colour'], /Unknown option '--colour'/],
    [['list', 'extra'], /list takes no positional argument/],
    [['list', '--stack', 'S', '--local'], /either --stack or --local/],
  ])('refuses %j as bad usage', (args, message) => {
    expect(() => parse(...args)).toThrow(UsageError);
    expect(() => parse(...args)).toThrow(message);
  });

  it('answers help for --help anywhere, and the help lists every command and flag', () => {
    expect(parse('--help')).toBe('help');
    expect(parse('apply', '-h')).toBe('help');
    for (const command of SUBCOMMANDS) expect(DESTINATIONS_HELP).toContain(`  ${command} `);
    for (const flag of [
      '-f, --file',
      '--customer',
      '--json',
      '--if-match',
      '--force',
      '--prune',
      '--dry-run',
      '--stack',
      '--local',
      '--state-dir',
      '--region',
      '--help',
    ])
      expect(DESTINATIONS_HELP).toContain(flag);
    expect(DESTINATIONS_HELP).toMatch(/Exit code 0 .* 1 .* 2 for bad usage/s);
  });
});

const seed = parseConfig(SEED_CONFIG_INPUT);
const s3 = seed.destinations.find((d) => d.type === 'S3');
const bus = seed.destinations.find((d) => d.type === 'EVENTBRIDGE');
if (s3?.type !== 'S3' || !bus) throw new Error('the seed config has an S3 and an EventBridge destination');
/** A destination as the API lists it: its fields at the top level plus what the API adds. */
const listed = (d: object, extra: Record<string, unknown> = {}) => ({
  ...d,
  status: 'ACTIVE',
  statusReason: undefined,
  version: 4,
  createdAt: '2026-12-01T10:00:00.000Z',
  updatedAt: '2026-12-01T10:00:00.000Z',
  updatedBy: 'arn:aws:iam::123456789012:user/ops',
  queueUrl: 'https://sqs/q',
  dlqUrl: 'https://sqs/dlq',
  ...extra,
});

describe('planApply', () => {
  it('creates what the API lacks, updates what differs (If-Match the listed version), and keeps the rest', () => {
    const changed = { ...s3, keyPrefix: 'v2/' };
    const plan = planApply([changed, bus], [listed(s3), listed({ ...bus, id: 'old-one' })], { prune: false });
    expect(plan.creates.map((d) => d.id)).toEqual([bus.id]);
    expect(plan.updates).toEqual([
      { destination: changed, version: 4, changes: [{ field: 'keyPrefix', from: s3.keyPrefix, to: 'v2/' }] },
    ]);
    expect(plan.deletes).toEqual([]);
    expect(plan.kept).toEqual(['old-one']);
    expect(plan.blocked).toEqual([]);
  });

  it('compares the config fields only: status, version, queues and the like never make an update', () => {
    const plan = planApply(
      [s3, bus],
      [
        listed(s3, { status: 'PAUSED', version: 9, inboxQueueUrl: 'http://x', customerSetup: { a: 1 } }),
        listed(bus, { status: 'FAILED', statusReason: 'AccessDenied' }),
      ],
      { prune: true },
    );
    expect(plan).toMatchObject({ creates: [], updates: [], deletes: [], unchanged: [bus.id, s3.id].sort() });
  });

  it("does not count a default the API's answer leaves out as a change", () => {
    const { maxEvents: _m, storageClass: _s, batchSizeMb: _b, ...withoutDefaults } = s3;
    expect(planApply([s3], [listed(withoutDefaults)], { prune: false }).unchanged).toEqual([s3.id]);
  });

  it('reads destinations nested under "destination" as well as at the top level', () => {
    expect(configFieldsOf({ destination: s3, status: 'ACTIVE', version: 2 })).toEqual(s3);
    expect(
      planApply([s3], [{ destination: s3, version: 2, status: 'ACTIVE' }], { prune: false }).unchanged,
    ).toEqual([s3.id]);
  });

  it('with --prune deletes what the file lacks, except what is already being deleted', () => {
    const plan = planApply(
      [s3],
      [listed(s3), listed({ ...bus, id: 'gone' }), listed({ ...bus, id: 'going' }, { status: 'DELETING' })],
      { prune: true },
    );
    expect(plan.deletes).toEqual([
      { id: 'gone', type: 'EVENTBRIDGE', customerExternalId: bus.customerExternalId },
    ]);
    expect(plan.kept).toEqual([]);
  });

  it('blocks a type change and a destination still being deleted, instead of guessing', () => {
    const plan = planApply([s3, bus], [listed({ ...bus, id: s3.id }), listed(bus, { status: 'DELETING' })], {
      prune: false,
    });
    expect(plan.blocked.map((b) => b.id)).toEqual([bus.id, s3.id].sort());
    expect(plan.blocked.find((b) => b.id === s3.id)?.reason).toMatch(/type cannot change/);
    expect(plan.creates).toEqual([]);
  });

  it('treats an absent optional field and an undefined one alike, and compares arrays and objects by value', () => {
    expect(
      changedFields(
        { a: 1, b: undefined, c: [1, 2], d: { x: 1, y: 2 } },
        { a: 1, c: [1, 2], d: { y: 2, x: 1 } },
      ),
    ).toEqual([]);
    expect(changedFields({ eventTypes: ['a'] }, {})).toEqual([
      { field: 'eventTypes', from: ['a'], to: undefined },
    ]);
  });

  it('prints the diff without credential values: auth shows as (changed)', () => {
    const rotated = { ...s3, auth: { ...s3.auth, externalId: 'new-external-id' }, keyPrefix: 'v2/' };
    const lines = formatPlan(
      planApply([rotated, bus], [listed(s3), listed({ ...bus, id: 'old' })], { prune: true }),
    );
    expect(lines).toEqual([
      `+ create ${bus.id} (EVENTBRIDGE, customer ${bus.customerExternalId})`,
      `~ update ${s3.id}`,
      '    auth: (changed)',
      `    keyPrefix: "${s3.keyPrefix}" → "v2/"`,
      `- delete old (EVENTBRIDGE, customer ${bus.customerExternalId})`,
      '0 unchanged',
    ]);
    expect(lines.join('\n')).not.toContain('new-external-id');
    expect(lines.join('\n')).not.toContain('acme-ext-7Pq2');
  });
});

describe('redact', () => {
  it('hides credential fields at any depth, whatever the API answered', () => {
    expect(
      redact({
        id: 'x',
        auth: { mode: 'ACCESS_KEY', accessKeyId: 'AKIA…WXYZ', secretAccessKey: 's', sessionToken: 't' },
      }),
    ).toEqual({
      id: 'x',
      auth: {
        mode: 'ACCESS_KEY',
        accessKeyId: 'AKIA…WXYZ',
        secretAccessKey: '(hidden)',
        sessionToken: '(hidden)',
      },
    });
  });
});

describe('resolveApiTarget for a stack', () => {
  it("takes the stack's ApiUrl output and signs for the region its URL names", async () => {
    const cfn = mockClient(CloudFormationClient);
    cfn.on(DescribeStacksCommand, { StackName: 'Prod' }).resolves({
      Stacks: [
        {
          StackName: 'Prod',
          CreationTime: new Date(),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: [
            { OutputKey: 'ApiUrl', OutputValue: 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod' },
          ],
        },
      ],
    });
    const target = await resolveApiTarget(
      { kind: 'stack', stackName: 'Prod' },
      { cloudFormation: () => new CloudFormationClient({ region: 'us-east-1' }) },
    );
    expect(target).toMatchObject({
      baseUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod',
      region: 'eu-west-1',
      where: 'stack Prod',
    });
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'Old', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [] }],
    });
    await expect(
      resolveApiTarget(
        { kind: 'stack', stackName: 'Old' },
        { cloudFormation: () => new CloudFormationClient({ region: 'us-east-1' }) },
      ),
    ).rejects.toThrow(/no ApiUrl output/);
    cfn.restore();
  });
});
