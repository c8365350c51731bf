#!/usr/bin/env node
// Bundles the dashboard (Preact + uPlot, src/dashboard/client) into dist/dashboard/public with
// esbuild, after `tsc` has compiled the bundler module itself. Part of `npm run build`.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { bundleDashboard } = await import(join(root, 'dist/dashboard/bundle.js'));
const outdir = join(root, 'dist/dashboard/public');
const files = await bundleDashboard({ outdir, clientDir: join(root, 'src/dashboard/client') });
const sizes = Object.entries(files).map(([name, text]) => `${name} ${(text.length / 1024).toFixed(0)} KiB`);
console.log(`dashboard: ${sizes.join(', ')} → ${outdir}`);
