import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { AttemptLog } from '../adapters/attempt-log.js';
import { AuditLog } from '../adapters/audit-log.js';
import { DestinationStore } from '../adapters/destination-store.js';
import { getStoredRouting, scanReceivedWindow } from '../adapters/event-store.js';
import { lazyHandler } from '../adapters/lazy-handler.js';
import { pushrailLogger } from '../adapters/log-format.js';
import { ReplayJournal } from '../adapters/replay-journal.js';
import { TraceLog } from '../adapters/trace-log.js';
import { ReplayRequestError } from '../core/errors.js';
import { REPLAY_ENV } from '../core/function-env.js';
import { toFieldIssues } from '../core/issues.js';
import { readEnv } from '../core/read-env.js';
import { ReplayRequestSchema, type ReplayResult } from '../core/replay-request.js';
import { DAY_SECONDS, queueNames } from '../core/resources.js';
import type { DestinationType } from '../destinations/index.js';
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
      [REPLAY_ENV.retentionDays]: z.coerce.number().int().min(1).max(365),
    },
    source,
  );
  const logger = pushrailLogger('pushrail-replay');
  const dynamodb = new DynamoDBClient({});
  const destinations = destinationsFromEnv(source, dynamodb);
  const sqs = new SQSClient({});
  const retentionSeconds = env[REPLAY_ENV.retentionDays] * DAY_SECONDS;
  // The customer of each destination replayed, stamped on its `replayed` records (the deliveries feed).
  const customers = new Map<string, string>();
  const attempts = new AttemptLog(dynamodb, env[REPLAY_ENV.attemptsTable], retentionSeconds, {
    customerOf: (id) => customers.get(id),
  });
  const journal = new ReplayJournal(dynamodb, env[REPLAY_ENV.attemptsTable], retentionSeconds);
  const trace = new TraceLog(dynamodb, env[REPLAY_ENV.attemptsTable], retentionSeconds);
  const eventsTable = env[REPLAY_ENV.eventsTable];

  return async (event, context) => {
    logger.addContext(context);
    const parsed = ReplayRequestSchema.safeParse(event);
    if (!parsed.success) throw new ReplayRequestError('invalid replay request', toFieldIssues(parsed.error));
    const request = parsed.data;
    const destination = await destinations.find(request.destinationId);
    if (destination === undefined) {
      throw new ReplayRequestError(
        `unknown destination "${request.destinationId}"; this stack has: ${await destinations.known()}`,
        [{ field: 'destinationId', message: 'not a destination of this stack' }],
      );
    }
    const destinationType = destination.type;
    if (destination.customerExternalId) customers.set(request.destinationId, destination.customerExternalId);
    const names = queueNames(env[REPLAY_ENV.namePrefix], request.destinationId);
    return runReplay(request, {
      audit: destinations.audit,
      ...(destination.customerExternalId ? { customerExternalId: destination.customerExternalId } : {}),
      sqs,
      attempts,
      trace,
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

/** Ids listed in the refusal of an unknown destination, at most. */
const KNOWN_SHOWN = 20;

interface ReplayDestinations {
  /** The destination to replay to; undefined when there is none (or it is being deleted). */
  find(id: string): Promise<{ type: DestinationType; customerExternalId?: string } | undefined>;
  /** For the refusal: the ids there are (some of them). */
  known(): Promise<string>;
  readonly audit: AuditLog;
}

/** Where the destinations are: the destinations table, with the audit table for the replay entries. */
function destinationsFromEnv(source: NodeJS.ProcessEnv, dynamodb: DynamoDBClient): ReplayDestinations {
  const env = readEnv(
    {
      [REPLAY_ENV.destinationsTable]: z.string().min(1),
      [REPLAY_ENV.auditTable]: z.string().min(1),
    },
    source,
  );
  const store = new DestinationStore(dynamodb, env[REPLAY_ENV.destinationsTable]);
  return {
    async find(id) {
      const record = await store.get(id);
      // A deleted destination's queue is drained and removed: nothing may be sent back to it.
      if (!record || record.desired === 'DELETED') return undefined;
      return { type: record.destination.type, customerExternalId: record.destination.customerExternalId };
    },
    async known() {
      const ids = (await store.list())
        .filter((r) => r.desired !== 'DELETED')
        .map((r) => r.destination.id)
        .sort();
      const shown = ids.slice(0, KNOWN_SHOWN).join(', ') || 'no destinations';
      return ids.length > KNOWN_SHOWN ? `${shown} and ${ids.length - KNOWN_SHOWN} more` : shown;
    },
    audit: new AuditLog(dynamodb, env[REPLAY_ENV.auditTable]),
  };
}

/** The Lambda entry point. */
export const handler: ReplayHandler = lazyHandler(() => createReplayHandler());
