import { type Command, InvalidArgumentError } from 'commander';
import { ApiClient } from './client.js';

/** ResizeBody is what `scaleplane resize` sends to `POST /api/scalability/resize-group`. */
export interface ResizeBody {
  cpu?: string;
  memory?: string;
  size?: string;
}

/**
 * parseResize reads `cpu=0.5,memory=256Mi` (either key alone is fine) or a bare instance type such
 * as `t3.large`.
 */
export function parseResize(raw: string): ResizeBody {
  const text = raw.trim();
  if (!text.includes('=')) {
    if (!/^[a-z0-9][a-z0-9.-]*$/i.test(text))
      throw new InvalidArgumentError('expected cpu=N,memory=SIZE or an instance type such as t3.large');
    return { size: text };
  }
  const body: ResizeBody = {};
  for (const part of text.split(',')) {
    const match = /^\s*(cpu|memory|size)\s*=\s*(\S+)\s*$/.exec(part);
    if (!match) throw new InvalidArgumentError(`"${part}": expected cpu=N, memory=SIZE or size=TYPE`);
    const key = match[1] as keyof ResizeBody;
    // The last one silently won: `cpu=1,memory=256Mi,cpu=2` resized every instance to 2 cores.
    if (body[key] !== undefined)
      throw new InvalidArgumentError(
        `${key} given twice (${key}=${body[key]}, ${key}=${match[2]}): give it once`,
      );
    body[key] = match[2]!;
  }
  return body;
}

/** registerResize adds `scaleplane resize GROUP cpu=0.5,memory=256Mi` to the CLI. */
export function registerResize(program: Command, defaultApi = 'http://127.0.0.1:9090'): void {
  program
    .command('resize')
    .description(
      'resize every instance of a group, rolling one at a time (cpu=0.5,memory=256Mi or an instance type)',
    )
    .argument('<group>', 'group name')
    .argument('<size>', 'cpu=N,memory=SIZE (local, kubernetes) or an instance type (aws)', parseResize)
    .option('--api <url>', 'control API URL', defaultApi)
    .option('--json', 'print the API answer as JSON')
    .action(async (group: string, size: ResizeBody, opts: { api: string; json?: boolean }) => {
      const client = await ApiClient.connect(opts.api);
      const result = await client.object<{ instances: number; status: string; warning?: string }>(
        'POST',
        '/api/scalability/resize-group',
        ['instances', 'status'],
        {
          group,
          ...size,
        },
      );
      if (opts.json) {
        console.log(JSON.stringify(result, null, 2));
        return;
      }
      const what = Object.entries(size)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      console.log(
        `${group}: resizing ${result.instances} instance(s) to ${what}, ${result.status} one at a time`,
      );
      // On stderr, so a script reading the line above still gets it alone.
      if (typeof result.warning === 'string') console.error(`warning: ${group}: ${result.warning}`);
    });
}
