import type { z } from 'zod';
import type { Ctx } from './context.ts';
import { badRequest } from './errors.ts';

/** A field's path as people write it: `spec.inputs[0].blob`. */
const pathOf = (path: PropertyKey[]) => path.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('');

const formats: Record<string, string> = { url: 'a URL', email: 'an email address', uuid: 'a UUID', regex: 'in the expected form', datetime: 'a date and time (ISO 8601)' };

const quantity = (origin: string | undefined, n: number | bigint) => (origin === 'string' ? `${n} characters` : origin === 'array' || origin === 'set' ? `${n} items` : String(n));

/**
 * An issue in words. Messages a schema gives (`'Use a password of at least 10 characters.'`) are
 * kept; zod's own ("Too small: expected number to be >=1", "Invalid input") are said plainly. A
 * union's issue is the branch that got furthest into the value (a scene, not a scene's name).
 */
function describeIssue(issue: z.core.$ZodIssue, base: PropertyKey[] = []): string {
  const path = [...base, ...issue.path];
  const where = path.length ? `${pathOf(path)}: ` : '';
  if (issue.code === 'invalid_union' && issue.errors.length) {
    const best = issue.errors.reduce((a, b) => (Math.max(0, ...b.map((i) => i.path.length)) > Math.max(0, ...a.map((i) => i.path.length)) ? b : a));
    if (best[0]) return describeIssue(best[0], path);
  }
  const own = !/^(Too small|Too big|Invalid |Unrecognized key)/.test(issue.message);
  if (own) return `${where}${issue.message.replace(/\.$/, '')}`;
  switch (issue.code) {
    case 'invalid_type': {
      // zod leaves the input out of its issues; its message says what it received.
      const received = /received (\w+)/.exec(issue.message)?.[1];
      if (received === 'undefined') return `${where}is required`;
      const a = (t: string) => (t === 'null' ? 'null' : `${/^[aeiou]/.test(t) ? 'an' : 'a'} ${t}`);
      return `${where}must be ${a(issue.expected)}${received ? `, not ${a(received)}` : ''}`;
    }
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return `${where}must not be empty`;
      return `${where}must be ${issue.inclusive === false ? 'more than' : 'at least'} ${quantity(issue.origin, issue.minimum)}`;
    case 'too_big':
      return `${where}must be ${issue.inclusive === false ? 'less than' : 'at most'} ${quantity(issue.origin, issue.maximum)}`;
    case 'invalid_value':
      return `${where}must be ${issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`}`;
    case 'unrecognized_keys':
      return `${where}has no field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_format':
      return `${where}is not ${formats[issue.format] ?? `a valid ${issue.format}`}`;
    default:
      return `${where}${issue.message}`;
  }
}

/** One line naming the first problems, e.g. `spec.random.m: must be at least 1; origins[0]: …`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.slice(0, 3).map((i) => describeIssue(i)).join('; ');
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
  if (!parsed.success) throw badRequest(`${describeIssues(parsed.error)}.`);
  return parsed.data;
}
