import { readFileSync } from 'node:fs';
import { z } from 'zod';

const ModeSchema = z.object({
  vendorUsdPerMillion: z.number(),
  customerUsdPerMillion: z.number(),
  /** USD per million events by CostLine key. */
  lines: z.record(z.string(), z.number()),
  writeUnitsPerEvent: z.record(z.string(), z.number()),
  lambda: z.record(z.string(), z.object({ invocationsPerThousand: z.number(), meanBilledMs: z.number() })),
  secondsPerThousandEvents: z.record(z.string(), z.number()),
});

const BaselineSchema = z.object({
  note: z.string(),
  date: z.string(),
  eventsPerMode: z.number().int().positive(),
  wallSeconds: z.number(),
  modes: z.object({ single: ModeSchema, batch: ModeSchema }),
});

export type Baseline = z.infer<typeof BaselineSchema>;

/**
 * The figures `npm run bench` prints as "before" (bench/baseline.json): the run before issue 14's
 * changes, kept in the repository so that "before" stays the same whatever later runs write to
 * bench/results.json.
 */
export function loadBaseline(): Baseline {
  const path = new URL('./baseline.json', import.meta.url);
  return BaselineSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}
