import { Aspects } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { parseVendorSettingsText } from '../../lambdas/core/config.js';
import { ConfigError } from '../../lambdas/core/errors.js';
import { DESTINATION_TYPES } from '../../lambdas/destinations/index.js';
import { PushrailStack } from '../../lib/pushrail-stack.js';
import { SEED_SETTINGS, synthStack, testApp } from './fixtures.js';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

const withEgress = synthStack({ egress: { staticIps: true, azs: 2 } });
const resources = withEgress.template.toJSON().Resources as Resources;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const consumerIds = DESTINATION_TYPES.map((type) =>
  withEgress.stack.getLogicalId(withEgress.stack.consumers[type].lambda.function.node.defaultChild as never),
);

describe('the egress setting (README "Egress IP")', () => {
  it('is off by default: the template is the same as with it off', () => {
    const none = synthStack().template.toJSON();
    const off = synthStack({ egress: { staticIps: false, azs: 2 } }).template.toJSON();
    expect(off).toEqual(none);
    const types = new Set(Object.values(none.Resources as Resources).map((r) => r.Type));
    for (const type of ['AWS::EC2::VPC', 'AWS::EC2::NatGateway', 'AWS::EC2::EIP'])
      expect(types).not.toContain(type);
    expect(Object.keys(none.Outputs as object)).not.toContain('EgressIps');
  });

  it('puts every consumer in the private subnets, with a security group', () => {
    const privateSubnets = ofType('AWS::EC2::Subnet')
      .filter(([, s]) => s.Properties.MapPublicIpOnLaunch !== true)
      .filter(([id]) => /Consumers/.test(id))
      .map(([id]) => id);
    expect(privateSubnets).toHaveLength(2);
    for (const id of consumerIds) {
      const vpcConfig = resources[id]?.Properties.VpcConfig as {
        SubnetIds: { Ref: string }[];
        SecurityGroupIds: unknown[];
      };
      expect(vpcConfig, id).toBeDefined();
      expect(vpcConfig.SubnetIds.map((s) => s.Ref).sort()).toEqual([...privateSubnets].sort());
      expect(vpcConfig.SecurityGroupIds).toHaveLength(1);
    }
    // The private subnets' default route is a NAT gateway.
    const natRoutes = ofType('AWS::EC2::Route').filter(([, r]) => r.Properties.NatGatewayId !== undefined);
    expect(natRoutes).toHaveLength(2);
  });

  it('lets the consumers manage their network interfaces, and no other function is in the VPC', () => {
    const inVpc = ofType('AWS::Lambda::Function')
      .filter(([, f]) => f.Properties.VpcConfig !== undefined)
      .map(([id]) => id);
    expect(inVpc.sort()).toEqual([...consumerIds].sort());
    const policies = ofType('AWS::IAM::Policy').map(([, p]) => JSON.stringify(p.Properties));
    expect(policies.filter((p) => p.includes('ec2:CreateNetworkInterface'))).toHaveLength(consumerIds.length);
  });

  it('gives each NAT gateway its own Elastic IP, and outputs them as EgressIps', () => {
    const eips = ofType('AWS::EC2::EIP');
    const nats = ofType('AWS::EC2::NatGateway');
    expect(eips).toHaveLength(2);
    expect(nats).toHaveLength(2);
    const allocations = nats.map(([, n]) => JSON.stringify(n.Properties.AllocationId));
    for (const [id] of eips) expect(allocations.some((a) => a.includes(id))).toBe(true);
    const output = withEgress.template.findOutputs('EgressIps').EgressIps as { Value: unknown };
    const value = JSON.stringify(output.Value);
    for (const [id] of eips) expect(value).toContain(`"${id}","PublicIp"`);
  });

  it('has no S3 gateway endpoint (same-Region S3 keeps the IP), a DynamoDB one, and flow logs', () => {
    const endpoints = ofType('AWS::EC2::VPCEndpoint').map(([, e]) =>
      JSON.stringify(e.Properties.ServiceName),
    );
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0]).toContain('dynamodb');
    expect(ofType('AWS::EC2::FlowLog')).toHaveLength(1);
  });

  it('follows azs', () => {
    const three = synthStack({ egress: { staticIps: true, azs: 3 } }).template.toJSON()
      .Resources as Resources;
    expect(Object.values(three).filter((r) => r.Type === 'AWS::EC2::NatGateway')).toHaveLength(3);
    expect(Object.values(three).filter((r) => r.Type === 'AWS::EC2::EIP')).toHaveLength(3);
  });

  it('is clean under cdk-nag', () => {
    const stack = new PushrailStack(testApp(), 'Pushrail', {
      ...SEED_SETTINGS,
      egress: { staticIps: true, azs: 2 },
    });
    Aspects.of(stack).add(new AwsSolutionsChecks({ verbose: true }));
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });
});

describe('the egress setting in the config', () => {
  const text = (egress: unknown) => JSON.stringify({ vendor: 'acme', egress });

  it('is read by cdk deploy, azs defaulting to 2', () => {
    expect(parseVendorSettingsText(text({ staticIps: true })).egress).toEqual({ staticIps: true, azs: 2 });
    expect(parseVendorSettingsText(JSON.stringify({ vendor: 'acme' }))).not.toHaveProperty('egress');
  });

  it('refuses azs out of range and unknown fields, naming them', () => {
    expect(() => parseVendorSettingsText(text({ staticIps: true, azs: 4 }))).toThrow(
      /egress\.azs.*between 1 and 3/,
    );
    expect(() => parseVendorSettingsText(text({ staticIps: 'yes' }))).toThrow(ConfigError);
    expect(() => parseVendorSettingsText(text({ staticIps: true, ips: 2 }))).toThrow(ConfigError);
  });
});
