import { parse as parseArn } from '@aws-sdk/util-arn-parser';
import { z } from 'zod';
import { COMMON_DESTINATION_FIELDS, intBetween, patterned } from '../../core/config-fields.js';

const BUS_ARN = /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[\w.\-/]{1,256}$/;

/** An `EVENTBRIDGE` destination (DESIGN.md "Destinations"): entries on the customer's bus. */
export const EventBridgeDestinationSchema = z
  .strictObject({
    type: z.literal('EVENTBRIDGE'),
    ...COMMON_DESTINATION_FIELDS,
    busArn: patterned(
      'busArn',
      BUS_ARN,
      'must be an event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)',
      1600,
    ),
    sourceNamespace: patterned(
      'sourceNamespace',
      /^(?!aws\.)[A-Za-z0-9._-]+$/,
      'must be letters, digits, ".", "_" or "-" and must not start with "aws."',
      256,
    ).optional(),
    maxConcurrency: intBetween('maxConcurrency', 2, 1000).default(2),
  })
  .superRefine((d, ctx) => {
    // Runs only once busArn matched BUS_ARN, so it parses.
    const busRegion = parseArn(d.busArn).region;
    if (busRegion !== d.region) {
      ctx.addIssue({
        code: 'custom',
        path: ['busArn'],
        message: `busArn is in region ${busRegion} but region is ${d.region}`,
      });
    }
  });

export type EventBridgeDestinationConfig = z.output<typeof EventBridgeDestinationSchema>;

/** The EventBridge `Source` of a destination's entries: configured, or `pushrail.<vendor>`. */
export function sourceNamespace(
  config: { readonly vendor: string },
  destination: EventBridgeDestinationConfig,
): string {
  return destination.sourceNamespace ?? `pushrail.${config.vendor}`;
}
