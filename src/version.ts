import { readFileSync } from 'node:fs';

/**
 * VERSION is package.json's version, for `scaleplane --version` and the MCP server's handshake.
 * One level up from src/ (tsx) and dist/ alike, so it is read, never copied by hand.
 */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
