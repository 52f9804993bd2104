/** The kernel errno names drmsim reports. */
export type Errno =
  | 'EINVAL'
  | 'EEXIST'
  | 'ENOSPC'
  | 'ENOMEM'
  | 'EDEADLK'
  | 'EALREADY'
  | 'EBUSY'
  | 'EOPNOTSUPP'
  | 'ESRCH'
  | 'EIO'
  | 'ETIME'
  | 'ECANCELED'
  | 'EINTR'
  | 'ERESTARTSYS'
  | 'EAGAIN'

/** The Linux errno numbers (x86 and arm64); a fence error is the negation (`dma_fence_set_error`). */
export const ERRNO_CODES: Readonly<Record<Errno, number>> = Object.freeze({
  ESRCH: 3,
  EIO: 5,
  // dmem: a charge over a cgroup's max during eviction.
  EAGAIN: 11,
  ENOMEM: 12,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  EDEADLK: 35,
  ETIME: 62,
  EOPNOTSUPP: 95,
  EALREADY: 114,
  ECANCELED: 125,
  EINTR: 4,
  /** Kernel-internal (never seen by userspace): a wait interrupted by a signal, to be restarted. */
  ERESTARTSYS: 512,
})

/** Every errno name drmsim knows, in `ERRNO_CODES` order. */
export const ERRNO_NAMES = Object.freeze(Object.keys(ERRNO_CODES) as Errno[])

const ERRNOS: ReadonlySet<string> = new Set(ERRNO_NAMES)

/** The name of a (positive or negative) errno number, or null when drmsim has none for it. */
export function errnoName(code: number): Errno | null {
  const n = Math.abs(code)
  return ERRNO_NAMES.find((e) => ERRNO_CODES[e] === n) ?? null
}

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

/** Step counts, as `GpuVm.bind` returns them. */
interface Counts {
  readonly map: number
  readonly remap: number
  readonly unmap: number
  readonly prefetch: number
}

/**
 * A batch (`GpuVm.bindBatch`) stopped at a request that failed, or an atomic
 * array (`GpuVm.bindArray`) was refused or undone (`atomic`, `unwound`): the DrmError
 * that request threw (its `errno`, its message after the request's index,
 * and as `cause`), which request it was, and the steps of the requests
 * before it, which stay applied.
 */
export class DrmBatchError extends DrmError {
  /** The failing request's index in the batch; requests `0..index-1` were applied. */
  readonly index: number
  /** The total steps of the requests applied before it (none for an atomic array: they were undone). */
  readonly applied: Counts
  /**
   * An atomic array (`GpuVm.bindArray`) only: true when requests had been
   * applied and were undone (the VA space is as before), false when its
   * checks refused it before any was applied. Always false for `bindBatch`.
   */
  readonly unwound: boolean
  /** Whether it comes from an atomic array (`bindArray`) rather than a sequential batch. */
  readonly atomic: boolean

  constructor(cause: DrmError, index: number, applied: Counts, atomic?: { unwound: boolean }) {
    const what = atomic === undefined ? 'the batch' : 'the atomic array'
    super(cause.errno, `request ${index} of ${what}: ${cause.message.replace(/^E[A-Z]+: /, '')}`, { cause })
    this.name = 'DrmBatchError'
    this.index = index
    this.applied = applied
    this.atomic = atomic !== undefined
    this.unwound = atomic?.unwound ?? false
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
