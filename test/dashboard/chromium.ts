import { existsSync } from 'node:fs';

/** CHROMIUM is Debian's Chromium, installed by scripts/services/chromium.sh. */
export const CHROMIUM = '/usr/bin/chromium';

/** CHROMIUM_FLAGS are the flags ENVIRONMENT.md found to work here (root, no GPU, no background traffic). */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/** chromiumMissing is a skip reason when Chromium is not installed, else false. */
export const chromiumMissing: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} missing: run scripts/services/chromium.sh`;
