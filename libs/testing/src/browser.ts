import { accessSync, constants } from 'node:fs';

import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (`apt-get install -y chromium`), or the one CHROMIUM_PATH names. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH?.trim() || '/usr/bin/chromium';

/**
 * A headless Chromium for end-to-end tests of pages. Throws, naming the fix, when the browser is not
 * installed: a page test fails rather than skips on a machine without one.
 */
export async function launchChromium(): Promise<Browser> {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
  } catch {
    throw new Error(
      `Chromium is missing: no executable at ${CHROMIUM_PATH}. Install Debian's (apt-get install -y chromium) ` +
        'or set CHROMIUM_PATH to a Chromium or Chrome binary.',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // Root in a container has no user namespace for Chromium's sandbox; the page under test is our own.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}
