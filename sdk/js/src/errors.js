/**
 * Agent errors: why a job failed, for humans (message), machines (code) and
 * propeller (kind). The host turns an error from create/get/do into a failed
 * Resource: NonRecoverableError -> FAILED, RetryableError -> RETRYABLE_FAILED.
 *
 *   throw new RetryableError('the warehouse is busy', 'QuotaExceeded');
 *
 * Anything else an agent throws (a TypeError, a failed fetch...) becomes a
 * non-recoverable error whose code is the error's name, so nothing an agent
 * throws ever traps the component.
 */

/** Base class; use NonRecoverableError or RetryableError. */
export class AgentError extends Error {
  /**
   * @param {string} message what went wrong and, ideally, how to fix it
   * @param {string} [code] short machine-readable code, e.g. "QuotaExceeded"
   * @param {boolean} [retryable] whether a retry may succeed
   */
  constructor(message, code = '', retryable = false) {
    super(String(message));
    this.name = new.target.name;
    this.code = String(code ?? '');
    this.retryable = Boolean(retryable);
  }

  /** "non-recoverable" or "recoverable", as the WIT `error-kind` spells it. */
  get kind() {
    return this.retryable ? 'recoverable' : 'non-recoverable';
  }
}

/** The job failed and retrying will not help (bad config, a rejected job). */
export class NonRecoverableError extends AgentError {
  constructor(message, code = '') {
    super(message, code, false);
  }
}

/** A retry may succeed (quota, a transient outage, a 503). */
export class RetryableError extends AgentError {
  constructor(message, code = '') {
    super(message, code, true);
  }
}

/**
 * Any thrown value as the WIT `agent-error` record {message, code, kind}.
 * @param {unknown} thrown
 */
export function toWitError(thrown) {
  if (thrown instanceof AgentError) {
    return { message: thrown.message, code: thrown.code, kind: thrown.kind };
  }
  if (thrown instanceof Error) {
    const name = thrown.name || 'Error';
    return { message: `${name}: ${thrown.message}`, code: name, kind: 'non-recoverable' };
  }
  return { message: `agent threw ${describeValue(thrown)}`, code: 'UnexpectedThrow', kind: 'non-recoverable' };
}

/** The WIT `agent-error` record back as an AgentError (for the test helper). */
export function fromWitError(record) {
  const ErrorClass = record.kind === 'recoverable' ? RetryableError : NonRecoverableError;
  return new ErrorClass(record.message, record.code);
}

function describeValue(value) {
  try {
    return typeof value === 'string' ? JSON.stringify(value) : `${typeof value} ${JSON.stringify(value)}`;
  } catch {
    return typeof value;
  }
}
