import { readFileSync } from 'node:fs';
import { z } from 'zod';

const PriceSchema = z.strictObject({
  usd: z.number().min(0),
  per: z.number().positive(),
  unit: z.string(),
  source: z.string().url(),
  seenIn: z.string().optional(),
  checked: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  status: z.enum(['confirmed', 'unverified']),
});

const PriceFileSchema = z.strictObject({
  region: z.literal('us-east-1'),
  currency: z.literal('USD'),
  checked: z.string(),
  note: z.string(),
  prices: z.strictObject({
    apiGatewayRestRequest: PriceSchema,
    apiGatewayHttpRequest: PriceSchema,
    lambdaRequest: PriceSchema,
    lambdaArmGbSecond: PriceSchema,
    dynamodbWriteRequestUnit: PriceSchema,
    dynamodbReadRequestUnit: PriceSchema,
    sqsStandardRequest: PriceSchema,
    s3StandardPut: PriceSchema,
    eventBridgeCustomEvent: PriceSchema,
    kmsRequest: PriceSchema,
    cloudWatchLogsIngestion: PriceSchema,
    stsAssumeRole: PriceSchema,
    eventBridgePipesRequest: PriceSchema,
    firehoseDirectPutGb: PriceSchema,
    firehoseDynamicPartitioningGb: PriceSchema,
    firehoseDynamicPartitioningObject: PriceSchema,
  }),
});

export type PriceFile = z.infer<typeof PriceFileSchema>;
export type PriceKey = keyof PriceFile['prices'];

/** The one price list (bench/prices.json), validated so a typo fails before a long run, not after. */
export function loadPrices(): PriceFile {
  const path = new URL('./prices.json', import.meta.url);
  return PriceFileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}

/** USD for one unit (one request, one GB-second, one GB...). */
export function unitPrice(prices: PriceFile, key: PriceKey): number {
  const p = prices.prices[key];
  return p.usd / p.per;
}
