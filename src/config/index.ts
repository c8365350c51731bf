/**
 * The config module: scaleplane.yaml (full or short form) → a validated, resolved `Config`.
 * Other modules import from here only.
 */

export { parseDuration, parseSize } from './duration.js';
export {
  CONFIG_INVALID,
  ConfigError,
  type ConfigErrorOptions,
  type ConfigIssue,
  formatIssue,
} from './errors.js';
export { configJsonSchema } from './json-schema.js';
export { DEFAULT_LISTEN_HOST, formatListen, parseListen } from './listen.js';
export { defaultConfigPath, lineInFile, loadConfig, type ParseConfigOptions, parseConfig } from './load.js';
export { planReload, type ReloadPlan } from './reload.js';
export { GROUP_NAME, MAX_JOURNAL_SIZE, MAX_TIMER_MS, SHORT_FORM_GROUP, unknownKeyMessage } from './schema.js';
export { readTls, sameTls, type TlsMaterial, tlsIssues } from './tls.js';
export type * from './types.js';
export { baseUrlProblem, urlProblem } from './url.js';
