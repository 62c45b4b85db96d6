import { parse as parseArn } from '@aws-sdk/util-arn-parser';
import type { PolicyDocument } from '../core/iam-policy.js';
import { type Destination, kindOf } from '../destinations/index.js';

/**
 * The policies a customer puts on the role Pushrail assumes (DESIGN.md "Management API", `customerSetup`):
 * the trust policy lets the vendor's account assume it only with the destination's ExternalId, and
 * the permissions policy grants exactly the calls delivery (and the test send) makes, on exactly the
 * destination's bucket prefix or bus.
 */

export interface CustomerSetup {
  /** Attach as the role's trust policy. */
  readonly trustPolicy: PolicyDocument;
  /** Attach to the role (inline or managed). */
  readonly permissionsPolicy: PolicyDocument;
}

/** The customer's setup for an ASSUME_ROLE destination; undefined for other auth modes. */
export function customerSetup(destination: Destination, vendorAccountId: string): CustomerSetup | undefined {
  if (destination.auth?.mode !== 'ASSUME_ROLE') return undefined;
  const { partition } = parseArn(destination.auth.roleArn);
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
    permissionsPolicy: {
      Version: '2012-10-17',
      Statement: kindOf(destination).customerPermissions(destination, partition),
    },
  };
}
