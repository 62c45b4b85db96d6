import type { Logger } from '@aws-lambda-powertools/logger';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';

/**
 * The management function's `notify` on AWS: an asynchronous invoke (InvocationType `Event`) of the
 * provisioner with `{ destinationId }`, so the change converges within seconds and the API answers
 * without waiting for it. A failed invoke is logged, not thrown: the change is already in the table
 * and audited, and the provisioner's periodic reconcile converges it anyway, only later.
 */
export function provisionerTrigger(
  lambda: LambdaClient,
  functionName: string,
  logger: Pick<Logger, 'warn'>,
): (destinationId: string) => Promise<void> {
  return async (destinationId) => {
    try {
      await lambda.send(
        new InvokeCommand({
          FunctionName: functionName,
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify({ destinationId })),
        }),
      );
    } catch (error) {
      logger.warn('could not trigger the provisioner; the periodic reconcile will converge the change', {
        destinationId,
        errorName: (error as Error).name,
      });
    }
  };
}
