/**
 * A vitest reporter that fails the run when any test was skipped or left
 * to do: a test that does not run proves nothing, so CI (CI set) must not
 * pass on one. Elsewhere (a developer's `vitest -t ...`) it only says so.
 */
import type { Reporter } from 'vitest/reporters' with { 'resolution-mode': 'import' }

interface TaskLike {
  name: string
  mode: string
  tasks?: TaskLike[]
}

export default class NoSkips implements Reporter {
  onFinished(files: readonly TaskLike[] = []): void {
    const skipped: string[] = []
    const walk = (task: TaskLike, path: string): void => {
      const name = path ? `${path} > ${task.name}` : task.name
      if (task.mode === 'skip' || task.mode === 'todo') skipped.push(name)
      for (const child of task.tasks ?? []) walk(child, name)
    }
    for (const file of files) walk(file, '')
    if (skipped.length > 0) {
      const list = skipped.slice(0, 20).join('\n  ') + (skipped.length > 20 ? '\n  ...' : '')
      console.error(`\n${skipped.length} test(s) did not run; every test must:\n  ${list}`)
      if (process.env.CI) process.exitCode = 1
    }
  }
}
