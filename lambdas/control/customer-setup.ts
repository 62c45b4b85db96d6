import { parse as parseArn } from '@aws-sdk/util-arn-parser';
import type { Destination, DestinationOf, DestinationType } from '../destinations/index.js';

/**
 * The policies a customer puts on the role Pushrail assumes (DESIGN.md "Management API", `customerSetup`):
 * the trust policy lets the vendor's account assume it only with the destination's ExternalId, and
 * the permissions policy grants exactly the calls delivery (and the test send) makes, on exactly the
 * destination's bucket prefix or bus.
 */

export interface PolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly PolicyStatement[];
}

export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: 'Allow';
  readonly Principal?: { readonly AWS: string };
  readonly Action: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export interface CustomerSetup {
  /** Attach as the role's trust policy. */
  readonly trustPolicy: PolicyDocument;
  /** Attach to the role (inline or managed). */
  readonly permissionsPolicy: PolicyDocument;
}

/**
 * Per kind, what its delivery calls in the customer's account. A `Record` over every kind, so a new
 * kind without its permissions here does not compile.
 */
const PERMISSIONS: {
  readonly [K in DestinationType]: (d: DestinationOf<K>, partition: string) => PolicyStatement[];
} = {
  S3: (d, partition) => [
    {
      Sid: 'PushrailWriteObjects',
      Effect: 'Allow',
      Action: 's3:PutObject',
      // keyPrefix is normalized to end in "/" (or be ""), so this covers its folder and nothing beside it.
      Resource: `arn:${partition}:s3:::${d.bucket}/${d.keyPrefix}*`,
    },
  ],
  EVENTBRIDGE: (d) => [
    {
      Sid: 'PushrailPutEvents',
      Effect: 'Allow',
      // DescribeEventBus: EventBridge answers success for a bus that does not exist, so delivery checks it.
      Action: ['events:PutEvents', 'events:DescribeEventBus'],
      Resource: d.busArn,
    },
  ],
};

/** The customer's setup for an ASSUME_ROLE destination; undefined for other auth modes. */
export function customerSetup(destination: Destination, vendorAccountId: string): CustomerSetup | undefined {
  if (destination.auth.mode !== 'ASSUME_ROLE') return undefined;
  const { partition } = parseArn(destination.auth.roleArn);
  const permissions = PERMISSIONS[destination.type] as (
    d: Destination,
    partition: string,
  ) => PolicyStatement[];
  return {
    trustPolicy: {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'PushrailAssumeRole',
          Effect: 'Allow',
          Principal: { AWS: `arn:${partition}:iam::${vendorAccountId}:root` },
          Action: 'sts:AssumeRole',
          Condition: { StringEquals: { 'sts:ExternalId': destination.auth.externalId } },
        },
      ],
    },
    permissionsPolicy: { Version: '2012-10-17', Statement: permissions(destination, partition) },
  };
}
