/**
 * Small checks shared by the JSON readers (COCO annotations, detection results), so that their
 * error messages describe bad values the same way. Internal to lib/maskrcnn.
 */

/** A plain JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Longest rendering {@link describe} returns. */
const DESCRIBE_LENGTH = 60;
/** Deepest nesting {@link describe} renders (deeper parts are `[...]` / `{...}`). */
const DESCRIBE_DEPTH = 3;

/**
 * A short JSON-like rendering of a bad value for an error message (`nothing` for undefined),
 * at most 60 characters. Its work is bounded by the length and a nesting depth of 3, so a
 * huge, deeply nested or cyclic value cannot make an error message slow or overflow the
 * stack. Non-finite numbers show as `NaN` / `Infinity` (JSON would print `null`).
 */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = render(v, 0);
  return s.length > DESCRIBE_LENGTH ? `${s.slice(0, DESCRIBE_LENGTH - 3)}...` : s;
}

/** {@link describe}'s renderer: stops adding items once the text is longer than needed. */
function render(v: unknown, depth: number): string {
  if (typeof v === 'string') return JSON.stringify(v.length > DESCRIBE_LENGTH ? v.slice(0, DESCRIBE_LENGTH) : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v !== 'object') return `<${typeof v}>`;
  const isArray = Array.isArray(v);
  if (depth >= DESCRIBE_DEPTH) return isArray ? '[...]' : '{...}';
  const keys = isArray ? null : Object.keys(v);
  const n = isArray ? v.length : keys!.length;
  let out = isArray ? '[' : '{';
  for (let i = 0; i < n && out.length <= DESCRIBE_LENGTH; i++) {
    if (i > 0) out += ',';
    const item: unknown = isArray ? (v as unknown[])[i] : (v as Record<string, unknown>)[keys![i]!];
    const text = render(item === undefined ? null : item, depth + 1);
    out += isArray ? text : `${JSON.stringify(keys![i]!.slice(0, DESCRIBE_LENGTH))}:${text}`;
  }
  return out + (isArray ? ']' : '}');
}

/** An integer number. */
export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** A finite number. */
export function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * Why a COCO box `[x, y, w, h]` (of an annotation or a result) is wrong, starting with `path`
 * (e.g. `annotations[3].bbox`), or undefined: 4 finite numbers, width and
 * height not negative (a negative size would give a negative area), a finite far corner.
 */
export function boxProblem(v: unknown, path: string): string | undefined {
  if (!Array.isArray(v) || v.length !== 4) return `${path} must be 4 numbers [x, y, w, h], got ${describe(v)}`;
  const bad = v.findIndex((x) => !isFiniteNumber(x));
  if (bad >= 0) return `${path}[${bad}] must be a finite number, got ${describe(v[bad])}`;
  const [x, y, w, h] = v as [number, number, number, number];
  if (w < 0 || h < 0) return `${path} width and height must not be negative, got ${describe(v)}`;
  if (!Number.isFinite(x + w) || !Number.isFinite(y + h)) return `${path}'s far corner x+w, y+h is not finite, got ${describe(v)}`;
  return undefined;
}
