import { z } from 'zod';

/**
 * Reads and validates a function's environment once, at cold start. The error names every variable
 * that is missing or wrong and what it received (the values here are names and URLs, never secrets).
 */
export function readEnv<S extends Record<string, z.ZodType>>(
  shape: S,
  source: NodeJS.ProcessEnv = process.env,
): z.output<z.ZodObject<S>> {
  const result = z.object(shape).safeParse(source);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    const received = source[name];
    return `${name}: ${issue.message} (received ${received === undefined ? 'nothing' : JSON.stringify(received.slice(0, 200))})`;
  });
  throw new Error(`invalid function environment:\n  ${problems.join('\n  ')}`);
}

/** An environment variable holding JSON that must match a schema (the destination config, routes...). */
export function jsonOf<T extends z.ZodType>(schema: T) {
  return z.string().transform((s, ctx): z.output<T> => {
    let raw: unknown;
    try {
      raw = JSON.parse(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be JSON' });
      return z.NEVER;
    }
    const result = schema.safeParse(raw);
    if (result.success) return result.data;
    ctx.addIssue({
      code: 'custom',
      message: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    });
    return z.NEVER;
  });
}
