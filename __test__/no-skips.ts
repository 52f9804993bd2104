/**
 * A vitest reporter that fails the run when any test was skipped or left
 * to do: a test that does not run proves nothing, so CI must not pass on one.
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
      console.error(`\n${skipped.length} test(s) did not run; every test must:\n  ${skipped.join('\n  ')}`)
      process.exitCode = 1
    }
  }
}
