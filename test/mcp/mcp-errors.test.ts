// A tool's error keeps what the control API said: its message, and its stable code. The code was
// dropped (`409: group "web" must stay within …`), so an agent could tell one refusal from another
// (a scale out of range, an unknown group, a change in effect but not stored) only by the wording.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type ApiHarness, TOKEN } from '../helpers/api-harness.js';
import { connectMcp, type McpOverApi, startMcpOverApi } from '../helpers/mcp-client.js';

describe('MCP tool errors carry the control API code', () => {
  let stack: McpOverApi;
  let api: ApiHarness;
  let client: Client;
  before(async () => {
    stack = await startMcpOverApi();
    api = stack.api;
    client = await connectMcp(stack.url, TOKEN);
  });
  after(async () => {
    await client.close();
    await stack.close();
  });

  const cases = [
    {
      what: 'a scale outside min..max',
      name: 'scale_group',
      args: { group: 'web', action: 'set', instances: 99 },
      status: 409,
      code: 'SCALEPLANE_OUT_OF_RANGE',
    },
    {
      what: 'an unknown group',
      name: 'get_group',
      args: { group: 'nope' },
      status: 404,
      code: 'SCALEPLANE_UNKNOWN_GROUP',
    },
  ];
  for (const c of cases)
    it(`${c.what}: ${c.status} ${c.code}, in the text and as structured content`, async () => {
      const direct = await api.call(
        c.name === 'get_group' ? `/api/scalability/groups/${c.args.group}` : '/api/scalability/scale-group',
        c.name === 'get_group' ? {} : { method: 'POST', body: JSON.stringify(c.args) },
      );
      assert.equal(direct.status, c.status, `the API itself: ${JSON.stringify(direct.body)}`);
      const { error } = direct.body as { error: string };
      const result = await client.callTool({ name: c.name, arguments: c.args });
      assert.equal(result.isError, true, `${c.name} failed`);
      assert.deepEqual(
        result.content,
        [{ type: 'text', text: `${c.status} ${c.code}: ${error}` }],
        'the text names the status and the code, then the API message',
      );
      assert.deepEqual(
        result.structuredContent,
        { status: c.status, code: c.code, error },
        "the API's answer as structured content",
      );
    });
});
