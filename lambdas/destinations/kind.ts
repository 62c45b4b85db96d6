import type { z } from 'zod';
import type { FailureTable } from '../core/failure-codes.js';
import type { PolicyStatement } from '../core/iam-policy.js';

/**
 * What a destination kind provides (one folder under lambdas/destinations/ each, listed once in
 * ./index.ts). A descriptor is data and pure functions only: the ingest function imports the config
 * schema and so every descriptor, and must not bundle any kind's delivery code or AWS clients. The
 * delivery handler and the local customer side are therefore named by their module path, which the
 * CDK stack bundles and the local runtime imports, never by an import.
 */
export interface DestinationKind<
  S extends z.ZodObject = z.ZodObject,
  F extends readonly string[] = readonly string[],
> {
  /** What people call the kind ("S3", "EventBridge"): its row in the README's classification table. */
  readonly title: string;
  /** The kind's part of the config schema (`type` literal, fields, ranges and cross-field rules). */
  readonly schema: S;
  /**
   * What delivery (and the test send) calls in the customer's account, on exactly the destination's
   * bucket prefix or bus: the permissions policy of the `customerSetup` the management API answers.
   */
  customerPermissions(destination: z.output<S>, partition: string): PolicyStatement[];
  /** Which errors dead-letter at once and which retry (DESIGN.md invariant 7). */
  readonly classification: FailureTable;
  /** The kind's delivery function and its event source mapping. */
  readonly delivery: DeliveryDescriptor<z.output<S>>;
  /** Modules of the local runtime's customer side (`npm start`). */
  readonly local: {
    /**
     * Module path from the repository root; it exports `provisionCustomerSide` (a LocalCustomerSide),
     * which creates what the customer would own (a bucket, a bus with an inbox) in the emulator.
     */
    readonly customerSide: string;
    /** The fields `provisionCustomerSide` adds to the destination in `.pushrail/local.json`. */
    readonly fields: F;
  };
}

export interface DeliveryDescriptor<D> {
  /** What the function is called in descriptions and logs ("S3 batcher"). */
  readonly label: string;
  /** CDK construct id of the function: it shows in the generated function name. */
  readonly functionId: string;
  /** Powertools service name. */
  readonly serviceName: string;
  /**
   * Handler module path from the repository root. It exports `handler` (the Lambda entry) and
   * `createDeliveryHandler(env, options?)` (a DeliveryHandlerFactory), which the local runtime runs.
   */
  readonly entry: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** Whether delivery reads stored events (BatchGetItem/GetItem on the events table). */
  readonly readsStoredEvents: boolean;
  /** Whether delivery reads and writes the seals table. */
  readonly usesSeals: boolean;
  /**
   * How delivery reaches the customer: `AWS` with the customer's credentials (sts:AssumeRole, or keys
   * from Secrets Manager), `HTTPS` to the customer's endpoint with secrets Pushrail keeps (no role to
   * assume). An `HTTPS` kind may also pause its destination on its own (a webhook's 410), so it
   * writes the destinations table and the audit trail.
   */
  readonly customerAccess: 'AWS' | 'HTTPS';
  /** The event source mapping of a destination of this kind. */
  eventSource(destination: D): EventSourceSettings;
  /** The function's description for one destination (shown in the Lambda console). */
  describe(destination: D): string;
}

/** An SQS event source mapping's batching, as CloudFormation and the local pollers both take it. */
export interface EventSourceSettings {
  /** Most records per invocation. */
  readonly batchSize: number;
  /** How long records are gathered before invoking with fewer than `batchSize`. */
  readonly windowSeconds: number;
  /** Most concurrent invocations (2-1000); absent: no limit but the function's. */
  readonly maxConcurrency?: number;
}

/** Checks a descriptor against its own schema's output type at the definition. */
export function defineKind<S extends z.ZodObject, const F extends readonly string[]>(
  kind: DestinationKind<S, F>,
): DestinationKind<S, F> {
  return kind;
}
