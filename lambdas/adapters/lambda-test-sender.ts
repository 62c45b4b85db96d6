import { InvokeCommand, LambdaClient, type LambdaClientConfig } from '@aws-sdk/client-lambda';
import { z } from 'zod';
import type { DestinationRecord } from '../core/destination-record.js';
import { TestSendUnavailableError } from '../core/errors.js';
import { MANAGEMENT_ENV } from '../core/function-env.js';
import { jsonOf, readEnv } from '../core/read-env.js';
import type { TestAttempt, TestSendRequest } from '../core/test-send.js';
import { TestAttemptSchema } from '../core/test-send.js';
import { DESTINATION_TYPES, type DestinationType } from '../destinations/index.js';

/** `DELIVERY_FUNCTIONS`: the consumer function of every kind, by type. */
export const DeliveryFunctionsSchema = z.strictObject(
  Object.fromEntries(DESTINATION_TYPES.map((type) => [type, z.string().min(1)])) as Record<
    DestinationType,
    z.ZodString
  >,
);

/**
 * The test send on AWS (the management API's TestSender, lambdas/control/destinations.ts): the kind's consumer function invoked synchronously (RequestResponse) with
 * `{"pushrailTest": {"destinationId"}}`. A FunctionError (the consumer threw or timed out) and an
 * answer that is not an attempt are TestSendUnavailableError (503, retry may help); the payload of a
 * FunctionError is logged by the consumer itself and is not passed on, since it carries a stack.
 */
export function lambdaTestSender(
  lambda: Pick<LambdaClient, 'send'>,
  functions: Readonly<Record<DestinationType, string>>,
): (record: DestinationRecord) => Promise<TestAttempt> {
  return async (record) => {
    const { id, type } = record.destination;
    const request: TestSendRequest = { pushrailTest: { destinationId: id } };
    const res = await lambda.send(
      new InvokeCommand({
        FunctionName: functions[type],
        InvocationType: 'RequestResponse',
        Payload: Buffer.from(JSON.stringify(request)),
      }),
    );
    if (res.FunctionError) {
      throw new TestSendUnavailableError(
        `the ${type} consumer function could not run the test send (${res.FunctionError} error; see its logs); retry`,
      );
    }
    const text = Buffer.from(res.Payload ?? new Uint8Array()).toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const attempt = TestAttemptSchema.safeParse(parsed);
    if (!attempt.success) {
      throw new TestSendUnavailableError(
        `the ${type} consumer function answered the test send with something that is not an attempt; retry`,
      );
    }
    return attempt.data;
  };
}

/**
 * The test sender of a management function's environment: over Lambda when `DELIVERY_FUNCTIONS`
 * (MANAGEMENT_ENV.deliveryFunctions) names the consumers; without it, one that answers 503 saying so.
 */
export function testSenderFromEnv(
  source: NodeJS.ProcessEnv,
  clientConfig: LambdaClientConfig,
): (record: DestinationRecord) => Promise<TestAttempt> {
  const variable = MANAGEMENT_ENV.deliveryFunctions;
  if (!source[variable]) {
    return async () => {
      throw new TestSendUnavailableError(
        `the test send is not configured on this deployment (no ${variable}); deploy the current version`,
      );
    };
  }
  const functions = readEnv({ [variable]: jsonOf(DeliveryFunctionsSchema) }, source)[variable];
  return lambdaTestSender(new LambdaClient(clientConfig), functions);
}
