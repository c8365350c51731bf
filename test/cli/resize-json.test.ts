import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectCgroups } from '../../src/providers/index.js';
import { runCli } from '../helpers/cli-process.js';
import { DEMO_DIR, INTEGRATION_TOKEN, settled, startInProcess } from '../helpers/scaleplane.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

describe('scaleplane resize --json', { skip }, () => {
  it('prints the API answer as JSON (an unknown option, exit 2, before)', async (t) => {
    const app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
groups:
  web: { command: node server.js, cwd: ${DEMO_DIR} }
`);
    t.after(() => app.close());
    await settled(app, 'web', 1, 30_000);
    const api = `http://127.0.0.1:${app.apiAddress!.port}`;
    const { code, stdout, stderr } = await runCli(['resize', 'web', 'cpu=0.5', '--json', '--api', api], {
      SCALEPLANE_API_KEY: INTEGRATION_TOKEN,
    });
    assert.equal(code, 0, stderr);
    const answer = JSON.parse(stdout) as { group: string; instances: number; status: string };
    assert.deepEqual([answer.group, answer.instances, answer.status], ['web', 1, 'rolling']);
  });
});
