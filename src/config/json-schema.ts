/**
 * The JSON Schema of `scaleplane.yaml`, for editors (yaml-language-server's `$schema` comment gives
 * completion, hover and red squiggles) and for checking a config in CI without Scaleplane. It is
 * derived from the zod schemas that validate the config, so it cannot drift from them.
 */
import { z } from 'zod';
import { fullFormSchema, INPUT_DEFAULT, shortFormSchema } from './schema.js';

type JsonSchema = Record<string, unknown>;

/**
 * configJsonSchema describes what a config file may hold (the input: durations as `30s` or
 * seconds, sizes as `512Mi`), either form. What only code can check (min ≤ max, a duration's
 * syntax, cross-key rules) is left to `scaleplane validate`.
 */
export function configJsonSchema(): JsonSchema {
  const options = { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' } as const;
  const full = closeMappings(z.toJSONSchema(fullFormSchema, options));
  const short = closeMappings(z.toJSONSchema(shortFormSchema, options));
  delete full.$schema;
  delete short.$schema;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Scaleplane configuration (scaleplane.yaml)',
    anyOf: [
      { title: 'full form', ...full },
      { title: 'short form (one group)', ...short },
    ],
  };
}

/**
 * closeMappings marks every mapping closed. The config's mappings are loose objects to zod only so
 * that each unknown key is reported at its own path (by a refinement, which JSON Schema cannot
 * carry); to an editor they are exactly their keys, so a typo is flagged where it is typed.
 */
function closeMappings(node: JsonSchema): JsonSchema {
  const visit = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(visit);
    if (value === null || typeof value !== 'object') return value;
    const out: JsonSchema = {};
    for (const [key, child] of Object.entries(value)) out[key] = visit(child);
    // A key defaulted in code rather than by zod (so a refinement can tell it was written) carries
    // its default as `inputDefault` metadata: zod drops a plain `default` from a duration's meta.
    if (Object.hasOwn(out, INPUT_DEFAULT)) {
      out.default = out[INPUT_DEFAULT];
      delete out[INPUT_DEFAULT];
    }
    // zod names its own string checks as formats (`starts_with`); their `pattern` says it already.
    if (typeof out.format === 'string' && ZOD_ONLY_FORMATS.has(out.format) && out.pattern !== undefined)
      delete out.format;
    const open = out.additionalProperties;
    if (out.type === 'object' && out.properties !== undefined && isEmptySchema(open))
      out.additionalProperties = false;
    return out;
  };
  return visit(node) as JsonSchema;
}

const ZOD_ONLY_FORMATS = new Set(['starts_with', 'ends_with', 'includes', 'regex']);

function isEmptySchema(value: unknown): boolean {
  return value !== null && typeof value === 'object' && Object.keys(value).length === 0;
}
