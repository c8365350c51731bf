/** ConfigIssue is one problem in a config file, located by YAML path and line. */
export interface ConfigIssue {
  /** Dotted snake_case YAML path such as `groups.web.max_instances`; array indices as `.0`; '' for the file. */
  path: string;
  /** 1-based line of the offending node, or of its nearest existing parent when the key is missing. */
  line?: number;
  message: string;
}

/** CONFIG_INVALID is the stable `code` of every ConfigError. */
export const CONFIG_INVALID = 'SCALEPLANE_CONFIG_INVALID';

/** ConfigErrorOptions tells a ConfigError where the config came from and what caused it. */
export interface ConfigErrorOptions {
  source?: string;
  cause?: unknown;
}

/**
 * ConfigError reports every problem found in a config at once. Its message is a header followed by
 * one issue per line, formatted by `formatIssue`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = CONFIG_INVALID;
  readonly issues: ConfigIssue[];
  readonly source: string | undefined;

  constructor(issues: ConfigIssue[], options: ConfigErrorOptions = {}) {
    super(formatMessage(issues, options.source), { cause: options.cause });
    this.issues = issues;
    this.source = options.source;
  }
}

/** formatIssue renders an issue as `groups.web.max_instances (line 12): must be >= min_instances`. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === undefined ? '' : `line ${issue.line}`;
  if (issue.path === '') return where === '' ? issue.message : `${where}: ${issue.message}`;
  return where === '' ? `${issue.path}: ${issue.message}` : `${issue.path} (${where}): ${issue.message}`;
}

function formatMessage(issues: ConfigIssue[], source: string | undefined): string {
  const header = `invalid config${source === undefined ? '' : ` ${source}`}:`;
  return [header, ...issues.map(formatIssue)].join('\n');
}
