import type { z } from 'zod';
import type { Ctx } from './context.ts';
import { badRequest } from './errors.ts';

/** One line naming the first problems, e.g. `spec.random.m: Too small: expected number to be >=1`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** Parses a JSON body against a schema; a bad body is a 400 that says what to fix. */
export async function parseBody<T extends z.ZodType>(c: Ctx, schema: T): Promise<z.infer<T>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw badRequest('The body must be JSON (Content-Type: application/json).');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw badRequest(`Invalid request: ${describeIssues(parsed.error)}.`);
  return parsed.data;
}
