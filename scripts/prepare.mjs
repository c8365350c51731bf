#!/usr/bin/env node
// npm's `prepare`: builds dist/ after `npm ci` and `npm install`, as before. But `npx scaleplane`
// in this checkout also runs it: npm resolves `scaleplane` to the checkout itself, installs it into
// npx's cache as a `file:` dependency and prepares it, which rebuilt dist/ in place and made the
// quick start's first `npx scaleplane status` take 15–35 s (the next ones 0.8 s). Under `npm exec`
// (npx) with dist/ already built, there is nothing to prepare.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (process.env.npm_command === 'exec' && existsSync(join(root, 'dist/cli/main.js'))) process.exit(0);
const npm = process.env.npm_execpath
  ? spawnSync(process.execPath, [process.env.npm_execpath, 'run', 'build'], { cwd: root, stdio: 'inherit' })
  : spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
process.exit(npm.status ?? 1);
