import { z } from 'zod';
import { unknownKeyMessage } from '../config/index.js';

/**
 * whenMissing says `required` (as the config does) for a field the body lacks; any other problem
 * keeps zod's words. zod's own for a missing field read `Invalid input: expected
 * string, received undefined`.
 */
function whenMissing(message = 'required') {
  return { error: (issue: { input?: unknown }) => (issue.input === undefined ? message : undefined) };
}

const SCALE_ACTIONS = ['scale-out', 'scale-in', 'set'] as const;

/** ScaleGroupRequest is the body of `POST /api/scalability/scale-group`. */
export const ScaleGroupRequest = z.strictObject({
  group: z.string(whenMissing()).min(1).max(63),
  action: z.enum(SCALE_ACTIONS, whenMissing(`required (one of ${SCALE_ACTIONS.join(', ')})`)),
  /** How many to add or remove (default 1), or the count to set (required for `set`). */
  // zod's own words for 2.5 were `expected int, received number`, as if 2.5 were not a number.
  instances: z.number().int({ error: 'expected a whole number' }).min(0).max(10_000).optional(),
});

/** ScaleGroupRequest's parsed type. */
export type ScaleGroupRequest = z.infer<typeof ScaleGroupRequest>;

/** ResizeGroupRequest is the body of `POST /api/scalability/resize-group`. */
export const ResizeGroupRequest = z.strictObject({
  group: z.string(whenMissing()).min(1).max(63),
  // zod's own words for a failed union are "Invalid input": say what the field takes.
  cpu: z.union([z.string(), z.number()], { error: 'expected cores such as 0.5 or "500m"' }).optional(),
  memory: z.union([z.string(), z.number()], { error: 'expected bytes or a size such as "256Mi"' }).optional(),
  size: z.string().optional(),
});

/** CachePurgeRequest is the body of `POST /api/scalability/cache/purge`; give at least one field. */
export const CachePurgeRequest = z.strictObject({
  urls: z
    .array(z.string().min(1).max(2048))
    .max(1000)
    .optional()
    .describe('absolute URLs, or paths (every host); the query is part of the URL'),
  prefix: z.string().min(1).max(2048).optional().describe('a URL or path prefix: everything under it'),
  tags: z.array(z.string().min(1).max(1024)).max(1000).optional().describe('values of the tag header'),
});

/**
 * describeZodError names each offending field the way the API promises: `instances: …`. An unknown
 * field of the body names the one of `fields` (the body's) it is likely a typo of, as the config's
 * unknown keys do: `instance: unknown field (did you mean "instances"?)`.
 */
export function describeZodError(error: z.ZodError, fields: readonly string[] = []): string {
  return error.issues
    .flatMap((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const known = issue.path.length === 0 ? fields : [];
        return issue.keys.map(
          (key) => `${[...issue.path, key].join('.')}: ${unknownKeyMessage(key, known, 'field')}`,
        );
      }
      return [`${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`];
    })
    .join('; ');
}

/** fieldsOf lists the fields a request body takes, for describeZodError's suggestions. */
export function fieldsOf(schema: z.ZodObject): string[] {
  return Object.keys(schema.shape);
}
