/**
 * The queue helpers of the local runtime, from the one SQS adapter (lambdas/adapters/sqs-queue.ts):
 * the provisioner creates destination queues with the same calls.
 */
export { ensureQueue, queueArn } from '../lambdas/adapters/sqs-queue.js';
