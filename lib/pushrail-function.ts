import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime, SystemLogLevel } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

/** The repository root: esbuild's project root and where `package-lock.json` pins the bundled deps. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** An absolute path inside the repository (e.g. a handler's entry file). */
export function repoPath(relative: string): string {
  return fileURLToPath(new URL(`../${relative}`, import.meta.url));
}

/**
 * ESM bundles have no `require`; some CommonJS dependencies (inside the AWS SDK's dependency tree)
 * still call it. Defining it from `createRequire` lets them load. The alias avoids clashing with any
 * `createRequire` the bundle itself imports.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __pushrailCreateRequire } from 'node:module';" +
  'const require = __pushrailCreateRequire(import.meta.url);';

/** Where a function in a VPC runs: its subnets and security groups (lib/egress-network.ts). */
export interface FunctionNetwork {
  readonly vpc: IVpc;
  readonly subnets: SubnetSelection;
  readonly securityGroups: readonly ISecurityGroup[];
}

/**
 * What Lambda needs to attach a function to its subnets (the actions of the AWS managed policy
 * AWSLambdaVPCAccessExecutionRole, which the house role does not take). They support no resource
 * narrower than `*`.
 */
export const VPC_ACCESS_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
] as const;

export interface PushrailFunctionProps {
  /** Path of the handler's TypeScript entry file (absolute, or relative to the repository root). */
  readonly entry: string;
  /**
   * Name of the exported handler function.
   * @default 'handler'
   */
  readonly handler?: string;
  /** Powertools service name (`POWERTOOLS_SERVICE_NAME`): the `service` field of every log line. */
  readonly serviceName: string;
  /**
   * A description of the function, shown in the Lambda console.
   * @default - no description
   */
  readonly description?: string;
  /**
   * Memory in MB. CPU is allocated in proportion, so this is also the CPU setting.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Function timeout.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Drops Lambda's own START, END and REPORT lines (JSON log format, system log level WARN). They are
   * about 280 bytes per invocation, as much as the function's own line per request: worth dropping on a
   * function invoked once per POST (ingest), where Duration and Errors come from Lambda's free metrics
   * anyway; kept elsewhere, where an invocation is a whole batch and REPORT's memory figure is useful.
   * @default false
   */
  readonly quietPlatformLogs?: boolean;
  /**
   * Extra environment variables (beside `NODE_OPTIONS` and `POWERTOOLS_SERVICE_NAME`). The whole
   * environment is limited to 4 KB: pass large static data through `define` instead.
   * @default - none
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Compile-time constants for esbuild: keys are identifiers (e.g. `process.env.X`), values are JS
   * source text, so strings must be JSON-encoded (`JSON.stringify(value)`).
   * @default - none
   */
  readonly define?: Readonly<Record<string, string>>;
  /**
   * Concurrent executions reserved for (and the most allowed to) the function.
   * @default - none: the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * How long the function's log events are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log group when the stack is deleted.
   * @default RemovalPolicy.RETAIN (the CDK default for log groups: logs outlive the stack for audits)
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Runs the function in these subnets of a VPC (README "Egress IP").
   * @default - no VPC
   */
  readonly network?: FunctionNetwork;
}

/**
 * The house Lambda function: Node.js 24 on arm64 (set explicitly: CDK would default to x86 and to
 * whichever Node.js it considers latest), an ESM bundle built locally by esbuild with the AWS SDK
 * bundled (so the SDK version is the one pinned in package-lock.json, not the runtime's), minified,
 * with source maps enabled at run time, logging to its own log group with a retention.
 *
 * The role is explicit and holds no AWS managed policy: its only built-in permission is writing to
 * this function's log group. Callers add the rest with `grant*` methods on `function`.
 */
export class PushrailFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly logGroup: LogGroup;
  public readonly role: IRole;

  public constructor(scope: Construct, id: string, props: PushrailFunctionProps) {
    super(scope, id);

    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      ...(props.logRemovalPolicy ? { removalPolicy: props.logRemovalPolicy } : {}),
    });

    // Instead of AWSLambdaBasicExecutionRole (logs:* on every log group of the account), the role may
    // write to this function's log group only.
    const role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      ...(props.description ? { description: `Execution role: ${props.description}` } : {}),
    });
    this.logGroup.grantWrite(role);
    this.role = role;
    if (props.network) {
      role.addToPolicy(new PolicyStatement({ actions: [...VPC_ACCESS_ACTIONS], resources: ['*'] }));
      NagSuppressions.addResourceSuppressions(
        role,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'A function in a VPC needs Lambda to create and delete its network interfaces in the subnets: ' +
              'these EC2 actions (those of AWSLambdaVPCAccessExecutionRole) take no resource narrower than *.',
            appliesTo: ['Resource::*'],
          },
        ],
        true,
      );
    }

    this.function = new NodejsFunction(this, 'Function', {
      entry: isAbsolute(props.entry) ? props.entry : repoPath(props.entry),
      handler: props.handler ?? 'handler',
      ...(props.description ? { description: props.description } : {}),
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      ...(props.quietPlatformLogs
        ? { loggingFormat: LoggingFormat.JSON, systemLogLevelV2: SystemLogLevel.WARN }
        : {}),
      ...(props.reservedConcurrentExecutions !== undefined
        ? { reservedConcurrentExecutions: props.reservedConcurrentExecutions }
        : {}),
      role,
      ...(props.network
        ? {
            vpc: props.network.vpc,
            vpcSubnets: props.network.subnets,
            securityGroups: [...props.network.securityGroups],
          }
        : {}),
      logGroup: this.logGroup,
      projectRoot: REPO_ROOT,
      depsLockFilePath: repoPath('package-lock.json'),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        minify: true,
        sourceMap: true,
        // Stack traces need the mappings only; the embedded sources would double the asset's size.
        sourcesContent: false,
        // Prefer the packages' ESM builds, which tree-shake better.
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        // Bundle everything, including @aws-sdk/*: the runtime's SDK changes under us without notice.
        externalModules: [],
        // The machine building the stack has Node and esbuild; Docker is neither needed nor assumed.
        forceDockerBundling: false,
        ...(props.define ? { define: { ...props.define } } : {}),
      },
    });
  }
}
