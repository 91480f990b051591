/**
 * Errors edw raises on purpose. `message` is one line a user can act on (what, and where); internal
 * detail goes in `cause`. No message ever holds a password or a credentialed URL.
 */
export class EdwError extends Error {
  /** Exit code a command ends with when this error stops it: 1 a failure, 2 bad usage or configuration. */
  readonly exitCode: 1 | 2 = 1;
  override name = 'EdwError';
}

/** Malformed or invalid configuration or usage (exit 2). */
export class ConfigError extends EdwError {
  override readonly exitCode = 2;
  override name = 'ConfigError';
}

/** Credentials refused by the server (exit 2: the configuration is wrong). */
export class AuthError extends EdwError {
  override readonly exitCode = 2;
  override name = 'AuthError';
}

/** A document, file or stage that does not exist. */
export class NotFoundError extends EdwError {
  override name = 'NotFoundError';
}

/** A write lost a race (HTTP 409): re-read and re-apply. */
export class ConflictError extends EdwError {
  override name = 'ConflictError';
}

/** A write refused by the database's validation (HTTP 403) or by edw's own write checks. */
export class ForbiddenError extends EdwError {
  override name = 'ForbiddenError';
}

/** The database or another server cannot be reached now; may pass, so it is worth retrying. */
export class UnavailableError extends EdwError {
  override name = 'UnavailableError';
}

/** Too many attempts for now (HTTP 429): the server (edw's or the database's) refuses for a while. */
export class TooManyError extends EdwError {
  override name = 'TooManyError';
}

/**
 * A step failed. `retryable` says whether trying again may help (network, timeout, 5xx) or not
 * (md5 mismatch, corrupt data, missing input).
 */
export class StepError extends EdwError {
  override name = 'StepError';
  readonly retryable: boolean;
  constructor(message: string, options: {retryable?: boolean; cause?: unknown} = {}) {
    super(message, {cause: options.cause});
    this.retryable = options.retryable ?? false;
  }
}

/** The one-line text of any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

/** Whether an error is worth retrying: the database or a server was out of reach, or a step said so. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof StepError) return error.retryable;
  if (error instanceof UnavailableError) return true;
  if (error instanceof Error && error.name === 'AbortError') return false;
  const code = (error as {code?: unknown} | null)?.code;
  return typeof code === 'string' && ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH'].includes(code);
}
