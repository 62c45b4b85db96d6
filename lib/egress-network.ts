import { Fn } from 'aws-cdk-lib';
import {
  CfnEIP,
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpointAwsService,
  IpAddresses,
  NatProvider,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface EgressNetworkProps {
  /** Availability Zones: each has a public subnet with a NAT gateway and its Elastic IP, and a private subnet. */
  readonly azs: number;
  /**
   * How long the VPC flow logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly flowLogRetention?: RetentionDays;
}

/**
 * The network behind the published egress IP (README "Egress IP"): the consumers run in its private
 * subnets, and everything they send to the internet (webhooks, customers' S3 buckets in any Region,
 * EventBridge, STS) leaves through a NAT gateway per AZ, each with an Elastic IP this construct owns,
 * so the addresses stay the same for as long as the stack keeps them (`egressIps`).
 *
 * There is deliberately no S3 gateway endpoint: it would carry same-Region S3 requests past the NAT,
 * and a customer's bucket policy would then see the endpoint (aws:SourceVpce), not the IP. Pushrail's
 * own DynamoDB tables do go through a DynamoDB gateway endpoint (free; no customer sees those calls).
 * The VPC's flow logs (rejected traffic) go to a log group with a retention.
 */
export class EgressNetwork extends Construct {
  public readonly vpc: Vpc;
  public readonly securityGroup: SecurityGroup;
  public readonly elasticIps: readonly CfnEIP[];
  /** The Elastic IPs, comma-separated (output `EgressIps`). */
  public readonly egressIps: string;

  public constructor(scope: Construct, id: string, props: EgressNetworkProps) {
    super(scope, id);
    this.elasticIps = Array.from(
      { length: props.azs },
      (_, i) =>
        new CfnEIP(this, `EgressIp${i + 1}`, {
          domain: 'vpc',
          tags: [{ key: 'Name', value: `pushrail-egress-${i + 1}` }],
        }),
    );
    this.vpc = new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr('10.80.0.0/16'),
      // The stack is environment-agnostic (synth offline), where CDK assumes 2 AZs: name them by
      // index in the Region's list instead, so 3 works too.
      availabilityZones: Array.from({ length: props.azs }, (_, i) => Fn.select(i, Fn.getAzs())),
      natGateways: props.azs,
      natGatewayProvider: NatProvider.gateway({
        eipAllocationIds: this.elasticIps.map((eip) => eip.attrAllocationId),
      }),
      subnetConfiguration: [
        { name: 'Public', subnetType: SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'Consumers', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      gatewayEndpoints: {
        DynamoDb: { service: GatewayVpcEndpointAwsService.DYNAMODB },
      },
      restrictDefaultSecurityGroup: false,
    });
    const flowLogs = new LogGroup(this, 'FlowLogs', {
      retention: props.flowLogRetention ?? RetentionDays.ONE_MONTH,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: FlowLogTrafficType.REJECT,
    });
    this.securityGroup = new SecurityGroup(this, 'ConsumerSecurityGroup', {
      vpc: this.vpc,
      description: 'Pushrail consumers: no inbound; outbound to customers (HTTPS) and AWS APIs',
      allowAllOutbound: true,
    });
    this.egressIps = Fn.join(
      ',',
      this.elasticIps.map((eip) => eip.attrPublicIp),
    );
  }
}
