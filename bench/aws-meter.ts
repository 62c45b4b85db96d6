import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { STSClient } from '@aws-sdk/client-sts';
import { itemSize, readUnits, writeUnits } from '../lambdas/adapters/dynamodb-size.js';
import { TABLE_LIST } from '../lambdas/core/resources.js';
import { entrySize } from '../lambdas/destinations/eventbridge/entries.js';

/**
 * Counts every AWS request the pipeline makes, from inside the process.
 *
 * How: `Client.prototype.send` of `@smithy/core/client` (the base class of every SDK v3 client) is
 * wrapped so that each client gets two middlewares before its first request: one at `initialize`
 * (one per API call: it adds `ReturnConsumedCapacity` to DynamoDB requests, reads the answer, and
 * records payload sizes for SQS/EventBridge billing) and one at `finalizeRequest` below the retry
 * middleware (one per HTTP attempt: retries are billed too). No production code changes, no extra
 * network hop, and the request is changed before it is signed.
 *
 * Who: calls are attributed with AsyncLocalStorage to the function that made them (`ingest`,
 * `s3-batcher`, `eventbridge-sender`) or to `esm` (the event source mapping's own ReceiveMessage and
 * DeleteMessageBatch, which AWS bills to the account like any other SQS request). Calls outside an
 * attributed scope (provisioning, the benchmark's own checks) are not counted.
 */

export type Actor = 'ingest' | 'authorizer' | 's3-batcher' | 'eventbridge-sender' | 'esm';

export interface OpTotals {
  /** API calls (one `send`). */
  calls: number;
  /** HTTP attempts, retries included. */
  attempts: number;
  errors: number;
  /** Batch entries sent (SendMessageBatch, DeleteMessageBatch, PutEvents) or messages received. */
  entries: number;
  /** Billing units: SQS 64 KiB chunks, PutEvents 64 KiB entry chunks, S3 PUTs; 0 for free calls. */
  billed: number;
  /** Payload bytes (SQS message bodies and attributes, S3 object bodies). */
  bytes: number;
  /** Time spent in these calls, as seen by the caller (moto-bound: informational). */
  ms: number;
}

export interface TableUnits {
  /** Write request units under DynamoDB's size rules. */
  wru: number;
  /** Read request units under DynamoDB's size rules. */
  rru: number;
  /** What moto reported in ConsumedCapacity (a constant per call, whatever the size). */
  motoUnits: number;
  writes: number;
  reads: number;
}

export interface LogTotals {
  bytes: number;
  lines: number;
  warnings: number;
  errors: number;
}

export interface Invocations {
  count: number;
  /** Sum of per-invocation durations rounded up to the millisecond, as Lambda bills them. */
  billedMs: number;
}

export interface MeterSnapshot {
  /** Keyed `<actor> <Service.Operation>`. */
  readonly ops: Record<string, OpTotals>;
  /**
   * Keyed by table role (events, idempotency, seals, attempts), and `trace` and `health`: the trace's
   * records and health's rollups in the attempts table.
   */
  readonly tables: Record<string, TableUnits>;
  /** The same units by the function that spent them, keyed `<actor> <role>` (to cost each leg apart). */
  readonly tablesByActor: Record<string, { wru: number; rru: number }>;
  readonly invocations: Partial<Record<Actor, Invocations>>;
  readonly logs: Record<string, LogTotals>;
  readonly s3Objects: readonly { readonly key: string; readonly bytes: number; readonly lines: number }[];
  readonly putEvents: { readonly entries: number; readonly failed: number };
  /** The first warning and error lines the functions logged, to explain a failed run. */
  readonly problems: readonly string[];
}

interface MiddlewareContext {
  readonly clientName?: string;
  readonly commandName?: string;
}
type Input = Record<string, unknown>;
interface HandlerArgs {
  readonly input: Input;
}
interface HandlerOutput {
  readonly output: Record<string, unknown>;
}
type Handler = (args: HandlerArgs) => Promise<HandlerOutput>;
type Middleware = (next: Handler, context: MiddlewareContext) => Handler;
interface MiddlewareStack {
  add(middleware: Middleware, options: { step: string; name: string; priority?: string }): void;
}
interface SdkClient {
  readonly middlewareStack: MiddlewareStack;
}
interface ClientClass {
  readonly prototype: { send: (this: SdkClient, ...args: unknown[]) => Promise<unknown> };
}

/** DynamoDB operations that accept ReturnConsumedCapacity. */
const CAPACITY_OPS = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'GetItem',
  'BatchGetItem',
  'BatchWriteItem',
  'Query',
  'Scan',
  'TransactWriteItems',
  'TransactGetItems',
]);

const SQS_CHUNK = 64 * 1024;
const utf8 = (s: string | undefined): number => (s ? Buffer.byteLength(s, 'utf8') : 0);

function attributeBytes(attributes: unknown): number {
  let n = 0;
  for (const [name, v] of Object.entries((attributes ?? {}) as Record<string, Record<string, string>>)) {
    n += utf8(name) + utf8(v.DataType) + utf8(v.StringValue);
  }
  return n;
}

const messageBytes = (m: Record<string, unknown>): number =>
  utf8(m.MessageBody as string | undefined) +
  utf8(m.Body as string | undefined) +
  attributeBytes(m.MessageAttributes);

const chunks = (bytes: number): number => Math.max(1, Math.ceil(bytes / SQS_CHUNK));

export class AwsMeter {
  private readonly scope = new AsyncLocalStorage<Actor>();
  private recording = false;
  private ops = new Map<string, OpTotals>();
  private tables = new Map<string, TableUnits>();
  private tablesByActor = new Map<string, { wru: number; rru: number }>();
  private invocations = new Map<Actor, Invocations>();
  private logs = new Map<string, LogTotals>();
  private s3Objects: { key: string; bytes: number; lines: number }[] = [];
  private putEvents = { entries: 0, failed: 0 };
  private problems: string[] = [];
  /** Last known item size by table and key: UpdateItem and DeleteItem bill the larger of before and after. */
  private readonly itemSizes = new Map<string, number>();
  private readonly tableInfo = new Map<string, { role: string; keys: readonly string[] }>();
  private stdoutWrite: typeof process.stdout.write | undefined;
  /** Called after every successful call made in an attributed scope, recording or not. */
  public onCall: ((op: string, input: Input, output: Record<string, unknown>) => void) | undefined;

  /** Starts metering every SDK client of this process (idempotent). */
  public install(): void {
    const require = createRequire(import.meta.url);
    const { Client } = require('@smithy/core/client') as { Client: ClientClass };
    for (const sdk of [
      APIGatewayClient,
      DynamoDBClient,
      SQSClient,
      S3Client,
      EventBridgeClient,
      STSClient,
      SecretsManagerClient,
    ]) {
      // A second copy of @smithy/core would leave that client's calls uncounted: fail loudly instead.
      if (!(sdk.prototype instanceof (Client as unknown as abstract new () => unknown))) {
        throw new Error(`${sdk.name} does not extend the @smithy/core/client Client this meter patches`);
      }
    }
    const proto = Client.prototype;
    if ((proto.send as { metered?: boolean }).metered) return;
    const original = proto.send;
    const instrumented = new WeakSet<SdkClient>();
    const meter = this;
    const send = function (this: SdkClient, ...args: unknown[]): Promise<unknown> {
      if (!instrumented.has(this)) {
        instrumented.add(this);
        this.middlewareStack.add(meter.callMiddleware(), { step: 'initialize', name: 'benchMeterCall' });
        this.middlewareStack.add(meter.attemptMiddleware(), {
          step: 'finalizeRequest',
          name: 'benchMeterAttempt',
          priority: 'low',
        });
      }
      return original.apply(this, args);
    };
    Object.assign(send, { metered: true });
    proto.send = send;
  }

  /** Table names of this run, by role, with their key attributes (for per-item size tracking). */
  public describeTables(
    tables: Readonly<Record<string, string>>,
    keys: Readonly<Record<string, readonly string[]>>,
  ) {
    for (const [role, name] of Object.entries(tables))
      this.tableInfo.set(name, { role, keys: keys[role] ?? [] });
  }

  /** Counts what runs inside `fn` as calls of `actor`. */
  public as<T>(actor: Actor, fn: () => Promise<T>): Promise<T> {
    return this.scope.run(actor, fn);
  }

  /** One Lambda invocation of `actor`: attributed, timed, and counted. */
  public async invoke<T>(actor: Actor, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await this.scope.run(actor, fn);
    } finally {
      if (this.recording) {
        const totals = this.invocations.get(actor) ?? { count: 0, billedMs: 0 };
        totals.count += 1;
        totals.billedMs += Math.ceil(performance.now() - started);
        this.invocations.set(actor, totals);
      }
    }
  }

  public start(): void {
    this.ops = new Map();
    this.tables = new Map();
    this.tablesByActor = new Map();
    this.invocations = new Map();
    this.logs = new Map();
    this.s3Objects = [];
    this.putEvents = { entries: 0, failed: 0 };
    this.problems = [];
    this.recording = true;
  }

  public stop(): MeterSnapshot {
    this.recording = false;
    return {
      ops: Object.fromEntries(this.ops),
      tables: Object.fromEntries(this.tables),
      tablesByActor: Object.fromEntries(this.tablesByActor),
      invocations: Object.fromEntries(this.invocations),
      logs: Object.fromEntries(this.logs),
      s3Objects: this.s3Objects,
      putEvents: this.putEvents,
      problems: this.problems,
    };
  }

  /**
   * Takes the functions' JSON log lines (Powertools writes them to stdout/stderr) off the terminal and
   * counts their bytes per function: CloudWatch Logs bills ingestion by the byte. Other output passes.
   * Returns a writer to the real stdout.
   */
  public captureLogs(): (text: string) => void {
    if (!this.stdoutWrite) {
      this.stdoutWrite = process.stdout.write.bind(process.stdout);
      for (const stream of [process.stdout, process.stderr]) {
        const write = stream.write.bind(stream) as (
          chunk: string | Uint8Array,
          ...rest: unknown[]
        ) => boolean;
        stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
          const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
          if (!text.startsWith('{"')) return write(chunk, ...rest);
          this.countLog(text);
          const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
          callback?.();
          return true;
        }) as typeof stream.write;
      }
    }
    const out = this.stdoutWrite;
    return (text) => {
      out(text);
    };
  }

  private countLog(text: string): void {
    if (!this.recording) return;
    const actor = this.scope.getStore() ?? 'other';
    const totals = this.logs.get(actor) ?? { bytes: 0, lines: 0, warnings: 0, errors: 0 };
    for (const line of text.split('\n')) {
      if (line === '') continue;
      totals.bytes += Buffer.byteLength(line, 'utf8') + 1;
      totals.lines += 1;
      const level = /"level":"(\w+)"/.exec(line)?.[1];
      if (level === 'WARN' || level === 'ERROR') {
        if (level === 'WARN') totals.warnings += 1;
        else totals.errors += 1;
        if (this.problems.length < 5) this.problems.push(`${actor}: ${line.slice(0, 400)}`);
      }
    }
    this.logs.set(actor, totals);
  }

  private totals(key: string): OpTotals {
    let totals = this.ops.get(key);
    if (!totals) {
      totals = { calls: 0, attempts: 0, errors: 0, entries: 0, billed: 0, bytes: 0, ms: 0 };
      this.ops.set(key, totals);
    }
    return totals;
  }

  private opName(context: MiddlewareContext): string {
    const service = (context.clientName ?? 'Unknown').replace(/Client$/, '');
    const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
    return `${service}.${operation}`;
  }

  private attemptMiddleware(): Middleware {
    return (next, context) => async (args) => {
      const actor = this.scope.getStore();
      if (this.recording && actor) this.totals(`${actor} ${this.opName(context)}`).attempts += 1;
      return next(args);
    };
  }

  private callMiddleware(): Middleware {
    return (next, context) => async (args) => {
      const actor = this.scope.getStore();
      if (!actor) return next(args);
      const op = this.opName(context);
      if (!this.recording) {
        const result = await next(args);
        this.onCall?.(op, args.input, result.output);
        return result;
      }
      const [service = '', operation = ''] = op.split('.');
      let input = args.input;
      const added = { capacity: false, values: false };
      if (service === 'DynamoDB' && CAPACITY_OPS.has(operation)) {
        if (input.ReturnConsumedCapacity === undefined) {
          input = { ...input, ReturnConsumedCapacity: 'TOTAL' };
          added.capacity = true;
        }
        // The item's size after an update is what it is billed on; the caller never sees the extra field.
        if (
          operation === 'UpdateItem' &&
          (input.ReturnValues === undefined || input.ReturnValues === 'NONE')
        ) {
          input = { ...input, ReturnValues: 'ALL_NEW' };
          added.values = true;
        }
      }
      const started = performance.now();
      try {
        const result = await next({ ...args, input });
        this.account(actor, service, operation, input, result.output, undefined, performance.now() - started);
        this.onCall?.(op, args.input, result.output);
        if (added.capacity || added.values) {
          const output = { ...result.output };
          if (added.capacity) delete output.ConsumedCapacity;
          if (added.values) delete output.Attributes;
          return { ...result, output };
        }
        return result;
      } catch (error) {
        this.account(actor, service, operation, input, undefined, error, performance.now() - started);
        throw error;
      }
    };
  }

  private account(
    actor: Actor,
    service: string,
    operation: string,
    input: Input,
    output: Record<string, unknown> | undefined,
    error: unknown,
    ms: number,
  ): void {
    let op = `${service}.${operation}`;
    let entries = 0;
    let billed = 1;
    let bytes = 0;
    if (service === 'DynamoDB') {
      this.dynamodb(operation, input, output, error);
    } else if (service === 'SQS') {
      if (operation === 'SendMessageBatch' || operation === 'SendMessage') {
        const list = (operation === 'SendMessage' ? [input] : (input.Entries as Input[])) ?? [];
        entries = list.length;
        bytes = list.reduce((n, m) => n + messageBytes(m), 0);
        billed = chunks(bytes);
      } else if (operation === 'ReceiveMessage') {
        const messages = (output?.Messages as Input[] | undefined) ?? [];
        if (messages.length === 0 && !error) op = 'SQS.ReceiveMessage (empty)';
        entries = messages.length;
        bytes = messages.reduce((n, m) => n + messageBytes(m), 0);
        billed = chunks(bytes);
      } else if (Array.isArray(input.Entries)) {
        entries = input.Entries.length;
      }
    } else if (service === 'EventBridge') {
      if (operation === 'PutEvents') {
        const list = (input.Entries as Parameters<typeof entrySize>[0][]) ?? [];
        entries = list.length;
        billed = list.reduce((n, e) => n + chunks(entrySize(e)), 0);
        if (!error) {
          this.putEvents.entries += list.length;
          this.putEvents.failed += Number(output?.FailedEntryCount ?? 0);
        }
      } else {
        billed = 0; // control-plane reads such as DescribeEventBus are not billed
      }
    } else if (service === 'S3') {
      if (operation === 'PutObject') {
        const body = input.Body as Uint8Array | string | undefined;
        bytes = typeof body === 'string' ? utf8(body) : (body?.byteLength ?? 0);
        if (!error) {
          const metadata = (input.Metadata ?? {}) as Record<string, string>;
          this.s3Objects.push({ key: String(input.Key), bytes, lines: Number(metadata['event-count'] ?? 0) });
        }
      }
    } else if (service === 'STS' || service === 'APIGateway') {
      billed = 0; // STS is free; so are API Gateway's control-plane reads (the authorizer's key list)
    }
    const totals = this.totals(`${actor} ${op}`);
    totals.calls += 1;
    if (error) totals.errors += 1;
    totals.entries += entries;
    totals.billed += billed;
    totals.bytes += bytes;
    totals.ms += ms;
  }

  private table(name: string): TableUnits {
    const role = this.tableInfo.get(name)?.role ?? name;
    let units = this.tables.get(role);
    if (!units) {
      units = { wru: 0, rru: 0, motoUnits: 0, writes: 0, reads: 0 };
      this.tables.set(role, units);
    }
    return units;
  }

  private keyOf(table: string, item: Record<string, AttributeValue> | undefined): string {
    const keys = this.tableInfo.get(table)?.keys ?? [];
    return `${table}\u0000${JSON.stringify(keys.map((k) => item?.[k]))}`;
  }

  private write(table: string, units: number): void {
    const t = this.table(table);
    t.wru += units;
    t.writes += 1;
    this.byActor(table).wru += units;
  }

  /**
   * A write of an item that carries a global secondary index's key also writes the index: DynamoDB
   * bills it by the index entry's size (its keys, the table's keys and the projected attributes, plus
   * 100 bytes), counted as `<index> index`. moto keeps no index cost at all.
   */
  private indexWrites(tableName: string, item: Record<string, AttributeValue>): void {
    const role = this.tableInfo.get(tableName)?.role;
    const table = TABLE_LIST.find((t) => t.role === role);
    for (const index of table?.globalIndexes ?? []) {
      if (item[index.partitionKey] === undefined) continue;
      const names = new Set([
        index.partitionKey,
        index.sortKey,
        table?.partitionKey ?? '',
        ...(table?.sortKey ? [table.sortKey] : []),
        ...index.projected,
      ]);
      const entry = Object.fromEntries(Object.entries(item).filter(([name]) => names.has(name)));
      this.write(`${index.name} index`, writeUnits(itemSize(entry) + 100));
    }
  }

  private read(table: string, units: number, count = 1): void {
    const t = this.table(table);
    t.rru += units;
    t.reads += count;
    this.byActor(table).rru += units;
  }

  private byActor(table: string): { wru: number; rru: number } {
    const key = `${this.scope.getStore() ?? 'other'} ${this.tableInfo.get(table)?.role ?? table}`;
    let units = this.tablesByActor.get(key);
    if (!units) {
      units = { wru: 0, rru: 0 };
      this.tablesByActor.set(key, units);
    }
    return units;
  }

  /** Write and read units by DynamoDB's size rules; a failed conditional write is billed too. */
  private dynamodb(
    operation: string,
    input: Input,
    output: Record<string, unknown> | undefined,
    error: unknown,
  ) {
    type Item = Record<string, AttributeValue>;
    const table = String(input.TableName ?? '');
    const existing = (error as { Item?: Item } | undefined)?.Item;
    const known = (key: string): number => this.itemSizes.get(key) ?? (existing ? itemSize(existing) : 0);
    // The trace's records (adapters/trace-log.ts) and health's rollups (adapters/health-rollups.ts)
    // share the attempts table: counted apart, as `trace` and `health`.
    const countedAs = (tableName: string, item: Item): string => {
      if (this.tableInfo.get(tableName)?.role !== 'attempts') return tableName;
      const pk = item.destinationId?.S ?? '';
      if (/^(rcpt|evt)#/.test(pk)) return 'trace';
      return pk.startsWith('health#') ? 'health' : tableName;
    };
    const putItem = (tableName: string, item: Item) => {
      const key = this.keyOf(tableName, item);
      const size = itemSize(item);
      this.write(countedAs(tableName, item), writeUnits(Math.max(size, known(key))));
      if (!error) this.indexWrites(tableName, item);
      if (!error) this.itemSizes.set(key, size);
    };
    const deleteItem = (tableName: string, keyAttributes: Item) => {
      const key = this.keyOf(tableName, keyAttributes);
      this.write(tableName, writeUnits(known(key)));
      if (!error) this.itemSizes.delete(key);
    };
    switch (operation) {
      case 'PutItem':
        putItem(table, input.Item as Item);
        break;
      case 'UpdateItem': {
        const key = this.keyOf(table, input.Key as Item);
        const after =
          output?.Attributes && input.ReturnValues === 'ALL_NEW' ? itemSize(output.Attributes as Item) : 0;
        this.write(countedAs(table, input.Key as Item), writeUnits(Math.max(known(key), after)));
        if (after > 0) this.itemSizes.set(key, after);
        break;
      }
      case 'DeleteItem':
        deleteItem(table, input.Key as Item);
        break;
      case 'GetItem': {
        const item = output?.Item as Item | undefined;
        const size = item ? (this.itemSizes.get(this.keyOf(table, item)) ?? itemSize(item)) : 0;
        this.read(table, readUnits(size, input.ConsistentRead === true));
        break;
      }
      case 'BatchGetItem': {
        const requests = (input.RequestItems ?? {}) as Record<
          string,
          { Keys: Item[]; ConsistentRead?: boolean }
        >;
        const responses = (output?.Responses ?? {}) as Record<string, Item[]>;
        const unprocessed = (output?.UnprocessedKeys ?? {}) as Record<string, { Keys?: Item[] }>;
        for (const [name, request] of Object.entries(requests)) {
          const consistent = request.ConsistentRead === true;
          const found = responses[name] ?? [];
          // A projection returns part of the item, but the read is billed on the whole item.
          for (const item of found) {
            this.read(
              name,
              readUnits(this.itemSizes.get(this.keyOf(name, item)) ?? itemSize(item), consistent),
            );
          }
          const missing = request.Keys.length - found.length - (unprocessed[name]?.Keys?.length ?? 0);
          if (missing > 0) this.read(name, missing * readUnits(0, consistent), missing);
        }
        break;
      }
      case 'BatchWriteItem': {
        const requests = (input.RequestItems ?? {}) as Record<
          string,
          { PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }[]
        >;
        for (const [name, list] of Object.entries(requests)) {
          for (const r of list) {
            if (r.PutRequest) putItem(name, r.PutRequest.Item);
            if (r.DeleteRequest) deleteItem(name, r.DeleteRequest.Key);
          }
        }
        break;
      }
      case 'Query':
      case 'Scan': {
        const items = (output?.Items ?? []) as Item[];
        this.read(
          table,
          readUnits(
            items.reduce((n, i) => n + itemSize(i), 0),
            input.ConsistentRead === true,
          ),
        );
        break;
      }
      default:
        break;
    }
    const reported = output?.ConsumedCapacity as
      | { TableName?: string; CapacityUnits?: number }
      | { TableName?: string; CapacityUnits?: number }[]
      | undefined;
    for (const c of Array.isArray(reported) ? reported : reported ? [reported] : []) {
      this.table(c.TableName ?? table).motoUnits += c.CapacityUnits ?? 0;
    }
  }
}
