/**
 * Test helper: opens a self-contained HTML report in headless Chromium (playwright-core driving the system's
 * chromium, STEEL_CHROMIUM to point elsewhere) and records console errors, page errors and any request that leaves
 * the file. When Chromium or playwright-core is missing the test is skipped with a visible "# SKIP" line.
 * Used by the tests of `steel inspect` (tokenizer/inspect.test.ts) and `steel report` (eval/report.test.ts).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { setting } from './settings.ts';

export const CHROMIUM = setting('chromium') ?? '/usr/bin/chromium';

export interface OpenedPage {
  page: Page;
  /** console errors/warnings and uncaught page errors so far. */
  errors: string[];
  /** URLs requested that are not file: URLs (a self-contained report makes none). */
  requests: string[];
  close(): Promise<void>;
}

/** opens `file` (after `load`), or skips the test (returns null) when no browser can be driven here. */
export async function openInChromium(
  t: TestContext,
  file: string,
  what: string,
  viewport = { width: 1200, height: 900 },
): Promise<OpenedPage | null> {
  if (!existsSync(CHROMIUM)) {
    console.log(`# SKIP browser check of ${what}: ${CHROMIUM} not found (apt-get install chromium)`);
    t.skip('chromium not installed');
    return null;
  }
  const { chromium } = await import('playwright-core'); // a devDependency: always installed with the tests
  const profile = mkdtempSync(join(tmpdir(), 'steel-chromium-')); // fresh profile folder = --user-data-dir
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const close = async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('request', (q) => {
      if (!q.url().startsWith('file:')) requests.push(q.url());
    });
    await page.goto(`file://${file}`, { waitUntil: 'load' });
    return { page, errors, requests, close };
  } catch (e) {
    await close();
    throw e;
  }
}
