/** The kernel errno names drmsim reports. */
export type Errno = 'EINVAL' | 'EEXIST' | 'ENOSPC' | 'ENOMEM' | 'EDEADLK' | 'EALREADY' | 'EBUSY'

const ERRNOS: ReadonlySet<string> = new Set(['EINVAL', 'EEXIST', 'ENOSPC', 'ENOMEM', 'EDEADLK', 'EALREADY', 'EBUSY'])

/**
 * Every failure drmsim reports: `errno` is the kernel's name for it (also on
 * `code`, as Node's own errors have it). The state is unchanged when it is thrown,
 * unless the method says otherwise.
 */
export class DrmError extends Error {
  readonly errno: Errno
  readonly code: Errno

  constructor(errno: Errno, message: string, options?: { cause?: unknown }) {
    super(`${errno}: ${message}`, options)
    this.name = 'DrmError'
    this.errno = errno
    this.code = errno
  }

  /** Turns an error thrown by the native binding (code = errno) into a DrmError. */
  static from(err: unknown): unknown {
    if (err instanceof DrmError) return err
    const e = err as { code?: unknown; message?: unknown }
    if (e && typeof e.code === 'string' && ERRNOS.has(e.code)) {
      const message = String(e.message ?? '').replace(/^E[A-Z]+: /, '')
      return new DrmError(e.code as Errno, message)
    }
    return err
  }
}

/** A condition the kernel WARNs about, recorded instead of printed. */
export interface Warning {
  /** Short machine-readable name, for example `kernel-node-remove`. */
  readonly kind: string
  readonly message: string
  /** The rule of the specification it comes from. */
  readonly rule: string
}

/** Thrown instead of recording a warning when a VA space is strict. */
export class DrmWarning extends Error {
  readonly warning: Warning
  constructor(warning: Warning) {
    super(`WARN ${warning.kind}: ${warning.message}`)
    this.name = 'DrmWarning'
    this.warning = warning
  }
}
