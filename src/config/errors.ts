/** ConfigIssue is one problem in a config file, located by YAML path and line. */
export interface ConfigIssue {
  /** Dotted snake_case YAML path such as `groups.web.max_instances`; array indices as `.0`; '' for the file. */
  path: string;
  /** 1-based line of the offending node, or of its nearest existing parent when the key is missing. */
  line?: number;
  /** 1-based column, for a YAML syntax error (path ''), where the line alone may hold several tokens. */
  column?: number;
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

/**
 * formatIssue renders an issue as `groups.web.max_instances (line 12): must be >= min_instances`, or
 * a syntax error as `line 4, column 14: YAML syntax error: …`.
 */
export function formatIssue(issue: ConfigIssue): string {
  const column = issue.column === undefined ? '' : `, column ${issue.column}`;
  const where = issue.line === undefined ? '' : `line ${issue.line}${column}`;
  if (issue.path === '') return where === '' ? issue.message : `${where}: ${issue.message}`;
  return where === '' ? `${issue.path}: ${issue.message}` : `${issue.path} (${where}): ${issue.message}`;
}

function formatMessage(issues: ConfigIssue[], source: string | undefined): string {
  return [header(source), ...issues.map(formatIssue)].join('\n');
}

function header(source: string | undefined): string {
  return `invalid config${source === undefined ? '' : ` ${source}`}:`;
}

/**
 * formatConfigErrorLine is how the CLI prints a ConfigError: a single problem on one line after the
 * header (`invalid config FILE: groups.web.min_instances (line 4): must be >= 0`), as every other
 * CLI failure is one line, so the first line of stderr (a script's `head -1`, a supervisor's status)
 * says what is wrong; it was the header alone. Several problems keep one line each under it.
 */
export function formatConfigErrorLine(err: ConfigError): string {
  const [only, ...more] = err.issues;
  if (only === undefined || more.length > 0) return err.message;
  return `${header(err.source)} ${formatIssue(only)}`;
}
