/**
 * Test hooks for the child processes a test starts (worker processes, Slurm array tasks). Library code reads hooks
 * only from setTestHooks (pipeline/settings.ts), never from the environment; a test hands them to its children in one
 * variable, STEEL_TEST_HOOKS (the JSON of a TestHooks object, built by testHooksEnv), and starts them with a test
 * worker entry that injects them before serving tasks: HOOKED_WORKER for the local executor (its `worker` option),
 * pipeline/slurm/test-worker.ts for Slurm.
 */
import { fileURLToPath } from 'node:url';
import { setTestHooks, type TestHooks } from '../settings.ts';

export const TEST_HOOKS_ENV = 'STEEL_TEST_HOOKS';

/** The worker entry that serves the composition root's tasks with the hooks of STEEL_TEST_HOOKS injected. */
export const HOOKED_WORKER = fileURLToPath(new URL('./hooked-worker.ts', import.meta.url));

/** The environment entry that hands `h` to a child process. */
export function testHooksEnv(h: TestHooks): Record<string, string> {
  return { [TEST_HOOKS_ENV]: JSON.stringify(h) };
}

/** In a test worker entry: inject the hooks its parent test passed in STEEL_TEST_HOOKS (none when unset). */
export function injectTestHooksFromEnv(env: Record<string, string | undefined> = process.env): void {
  const raw = env[TEST_HOOKS_ENV];
  if (!raw) return setTestHooks(undefined);
  try {
    setTestHooks(JSON.parse(raw) as TestHooks);
  } catch (e) {
    throw new Error(`${TEST_HOOKS_ENV}: not JSON: ${(e as Error).message}`);
  }
}
