import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { AttemptLog } from '../adapters/attempt-log.js';
import { getStoredRouting, scanReceivedWindow } from '../adapters/event-store.js';
import { lazyHandler } from '../adapters/lazy-handler.js';
import { ReplayJournal } from '../adapters/replay-journal.js';
import { ReplayRequestError } from '../core/errors.js';
import { REPLAY_ENV } from '../core/function-env.js';
import { toFieldIssues } from '../core/issues.js';
import { readEnv } from '../core/read-env.js';
import { ReplayRequestSchema, type ReplayResult } from '../core/replay-request.js';
import { DAY_SECONDS, queueNames } from '../core/resources.js';
import { runReplay } from './run-replay.js';

export type ReplayHandler = (event: unknown, context: Context) => Promise<ReplayResult>;

/**
 * Builds the replay function from an environment. Invoked by on-call (`npx pushrail replay`, or
 * `aws lambda invoke` with the JSON request); a bad request or an unknown destination throws
 * ReplayRequestError, and a selection another invocation is working on ReplayInProgressError, before
 * anything is read or moved.
 */
export function createReplayHandler(source: NodeJS.ProcessEnv = process.env): ReplayHandler {
  const env = readEnv(
    {
      [REPLAY_ENV.eventsTable]: z.string().min(1),
      [REPLAY_ENV.attemptsTable]: z.string().min(1),
      [REPLAY_ENV.queueUrlBase]: z.string().url().endsWith('/'),
      [REPLAY_ENV.namePrefix]: z.string().min(1),
      // `id:TYPE` pairs (encodeDestinationList): a wrong type must not silently become S3.
      [REPLAY_ENV.destinations]: z
        .string()
        .regex(
          /^[^:,]+:(S3|EVENTBRIDGE)(,[^:,]+:(S3|EVENTBRIDGE))*$/,
          'must be id:S3 or id:EVENTBRIDGE pairs, comma-separated',
        ),
      [REPLAY_ENV.retentionDays]: z.coerce.number().int().min(1).max(365),
    },
    source,
  );
  const destinations = new Map(
    env[REPLAY_ENV.destinations].split(',').map((pair) => {
      const [id = '', type = ''] = pair.split(':');
      return [id, type as 'S3' | 'EVENTBRIDGE'];
    }),
  );
  const logger = new Logger({ serviceName: 'pushrail-replay' });
  const dynamodb = new DynamoDBClient({});
  const sqs = new SQSClient({});
  const retentionSeconds = env[REPLAY_ENV.retentionDays] * DAY_SECONDS;
  const attempts = new AttemptLog(dynamodb, env[REPLAY_ENV.attemptsTable], retentionSeconds);
  const journal = new ReplayJournal(dynamodb, env[REPLAY_ENV.attemptsTable], retentionSeconds);
  const eventsTable = env[REPLAY_ENV.eventsTable];

  return async (event, context) => {
    logger.addContext(context);
    const parsed = ReplayRequestSchema.safeParse(event);
    if (!parsed.success) throw new ReplayRequestError('invalid replay request', toFieldIssues(parsed.error));
    const request = parsed.data;
    const destinationType = destinations.get(request.destinationId);
    if (!destinationType) {
      throw new ReplayRequestError(
        `unknown destination "${request.destinationId}"; this stack has: ${[...destinations.keys()].join(', ')}`,
        [{ field: 'destinationId', message: 'not a destination of this stack' }],
      );
    }
    const names = queueNames(env[REPLAY_ENV.namePrefix], request.destinationId);
    return runReplay(request, {
      sqs,
      attempts,
      journal,
      destinationType: () => destinationType,
      queueUrl: `${env[REPLAY_ENV.queueUrlBase]}${names.queue}`,
      dlqUrl: `${env[REPLAY_ENV.queueUrlBase]}${names.dlq}`,
      readEvents: (ids) => getStoredRouting(dynamodb, eventsTable, ids),
      scanWindow: async (cursor) =>
        scanReceivedWindow(
          dynamodb,
          eventsTable,
          {
            destinationId: request.destinationId,
            ...(request.from ? { from: request.from } : {}),
            ...(request.to ? { to: request.to } : {}),
          },
          cursor,
        ),
      remainingMs: () => context.getRemainingTimeInMillis(),
      invocationId: context.awsRequestId,
      logger,
    });
  };
}

/** The Lambda entry point. */
export const handler: ReplayHandler = lazyHandler(() => createReplayHandler());
