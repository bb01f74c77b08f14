import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * The one error family. `code` is stable for programs, `message` says what to do about it.
 * Every route throws these; `app.onError` turns them into `{ error: { code, message } }`.
 */
export class AppError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    /** Where the fault is, for programs and editors (a compiler's messages with line and column). */
    readonly details?: { line: number; column: number; message: string }[],
  ) {
    super(message);
  }
}

export const badRequest = (message: string, code = 'bad_request', details?: AppError['details']) => new AppError(400, code, message, details);
export const unauthorized = (message = 'Sign in, or send an API key as "Authorization: Bearer <key>".') =>
  new AppError(401, 'unauthorized', message);
export const forbidden = (message: string) => new AppError(403, 'forbidden', message);
export const notFound = (message: string) => new AppError(404, 'not_found', message);
export const conflict = (message: string) => new AppError(409, 'conflict', message);
export const tooLarge = (message: string) => new AppError(413, 'too_large', message);
export const slowDown = (message: string) => new AppError(429, 'too_many_requests', message);

/** Bad configuration: thrown at start-up, printed as one sentence, exit code 2. */
export class ConfigError extends Error {}
