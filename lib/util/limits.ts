/**
 * Input limits shared by every reader of user files (COCO annotations and results, RLE, PNG,
 * safetensors weights, checkpoints): one place that says how deep a JSON document may nest,
 * how many pixels an image or mask may have, how many elements a tensor may hold, and how to
 * raise a limit when a real file needs it. Readers check these before they allocate or recurse,
 * so a hostile or corrupt file ends in a clear error, not a stack overflow, a hang or gigabytes.
 *
 * Pillow's `Image.MAX_IMAGE_PIXELS` (89,478,485 pixels, about 9459 x 9459) is the anchor for the
 * image limit; it is a guard against decompression bombs, not a statement about real images.
 */

/** The limits a reader enforces. Every field can be overridden per call or by an environment variable. */
export interface InputLimits {
  /** Deepest nesting of arrays and objects in a JSON document (env `MASKRCNN_MAX_JSON_DEPTH`). */
  maxJsonDepth: number;
  /** Most pixels (width x height) of an image or a mask (env `MASKRCNN_MAX_IMAGE_PIXELS`). */
  maxImagePixels: number;
  /** Most elements of one tensor in a weights or checkpoint file (env `MASKRCNN_MAX_TENSOR_ELEMENTS`). */
  maxTensorElements: number;
  /** Largest safetensors JSON header in bytes (env `MASKRCNN_MAX_HEADER_BYTES`). */
  maxHeaderBytes: number;
  /**
   * Largest ratio of an image's decoded bytes to its compressed bytes, for images that decode
   * to more than 16 MiB (env `MASKRCNN_MAX_INFLATE_RATIO`): a decompression-bomb guard that
   * holds below the pixel limit (a 6000x6000 PNG of one colour is 105 KB).
   */
  maxInflateRatio: number;
}

/** The built-in limits, before environment overrides. */
export const DEFAULT_INPUT_LIMITS: Readonly<InputLimits> = Object.freeze({
  maxJsonDepth: 64,
  maxImagePixels: 89_478_485,
  maxTensorElements: 2 ** 28,
  maxHeaderBytes: 100 * 1024 * 1024,
  maxInflateRatio: 100,
});

const ENV_NAMES: Record<keyof InputLimits, string> = {
  maxJsonDepth: 'MASKRCNN_MAX_JSON_DEPTH',
  maxImagePixels: 'MASKRCNN_MAX_IMAGE_PIXELS',
  maxTensorElements: 'MASKRCNN_MAX_TENSOR_ELEMENTS',
  maxHeaderBytes: 'MASKRCNN_MAX_HEADER_BYTES',
  maxInflateRatio: 'MASKRCNN_MAX_INFLATE_RATIO',
};

/**
 * The limits in force: the defaults, then environment variables, then `overrides`. A malformed
 * environment value is an error naming the variable (a typo must not silently disable a guard).
 */
export function inputLimits(overrides: Partial<InputLimits> = {}): InputLimits {
  const out: InputLimits = { ...DEFAULT_INPUT_LIMITS };
  for (const key of Object.keys(ENV_NAMES) as Array<keyof InputLimits>) {
    const env = typeof process !== 'undefined' ? process.env[ENV_NAMES[key]] : undefined; // none in a browser
    if (env !== undefined && env !== '') {
      const v = Number(env);
      if (!Number.isSafeInteger(v) || v <= 0) {
        throw new Error(`${ENV_NAMES[key]}=${JSON.stringify(env)} is not a positive integer`);
      }
      out[key] = v;
    }
    const o = overrides[key];
    if (o !== undefined) {
      if (!Number.isSafeInteger(o) || o <= 0) throw new Error(`input limit ${key} must be a positive integer, got ${o}`);
      out[key] = o;
    }
  }
  return out;
}

/** How to raise a limit, for the end of an error message. */
export function howToRaise(key: keyof InputLimits): string {
  return `raise it with the environment variable ${ENV_NAMES[key]}=N if the file is trusted`;
}

/**
 * Checks that a JSON text nests no deeper than `maxDepth` arrays/objects, by one iterative scan
 * (strings and escapes skipped), before `JSON.parse` and any recursive walk see it. Throws an
 * error naming `what` and the byte offset where the limit was crossed.
 */
export function checkJsonDepth(text: string, what: string, maxDepth = inputLimits().maxJsonDepth): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) {
        throw new Error(`${what}: JSON nests deeper than ${maxDepth} levels (at character ${i}); ${howToRaise('maxJsonDepth')}`);
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/**
 * The same depth check for a value that is already parsed (or built in JavaScript), by an
 * iterative walk, before any recursive code (`JSON.stringify`, a validator) sees it. A cycle
 * counts as nesting without end. Throws an error naming `what` and the path where the limit
 * was crossed (`annotations[3].segmentation[0]...`).
 */
export function checkValueDepth(value: unknown, what: string, maxDepth = inputLimits().maxJsonDepth): void {
  if (typeof value !== 'object' || value === null) return;
  // Depth-first with an explicit stack of frames (a container, its keys, the next position):
  // the stack is the path, so memory is O(depth) and the error can name where it happened.
  interface Frame { v: object; keys: string[] | null; next: number; }
  const frame = (v: object): Frame => ({ v, keys: Array.isArray(v) ? null : Object.keys(v), next: 0 });
  const stack: Frame[] = [frame(value)];
  const fail = (): never => {
    const path = stack
      .slice(1)
      .map((_f, i) => {
        const up = stack[i]!;
        return up.keys === null ? `[${up.next - 1}]` : `.${up.keys[up.next - 1]!}`;
      })
      .join('');
    throw new Error(`${what}: nests deeper than ${maxDepth} levels (at ${path === '' ? 'the top' : path}); ${howToRaise('maxJsonDepth')}`);
  };
  if (maxDepth < 1) fail();
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const n = top.keys === null ? (top.v as unknown[]).length : top.keys.length;
    let child: unknown;
    let found = false;
    while (top.next < n) {
      const c: unknown = top.keys === null ? (top.v as unknown[])[top.next] : (top.v as Record<string, unknown>)[top.keys[top.next]!];
      top.next++;
      if (typeof c === 'object' && c !== null) {
        child = c;
        found = true;
        break;
      }
    }
    if (!found) {
      stack.pop();
      continue;
    }
    stack.push(frame(child as object));
    if (stack.length > maxDepth) fail();
  }
}

/**
 * `JSON.parse` for user files: the nesting depth is checked first, and a syntax error becomes an
 * error that names `what` (a file name, or "the safetensors header of FILE") and the position.
 */
export function parseJson(text: string, what: string, maxDepth?: number): unknown {
  checkJsonDepth(text, what, maxDepth);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new Error(`${what}: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Checks an image or mask size before anything of that size is allocated: positive safe integer
 * sides and at most `maxImagePixels` pixels. `what` names the file or annotation.
 */
export function checkImageSize(width: unknown, height: unknown, what: string, maxPixels = inputLimits().maxImagePixels): void {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || (width as number) <= 0 || (height as number) <= 0) {
    throw new Error(`${what}: size ${String(width)}x${String(height)} is not two positive integers`);
  }
  const pixels = (width as number) * (height as number);
  if (pixels > maxPixels) {
    throw new Error(`${what}: ${width}x${height} = ${pixels} pixels is more than the limit of ${maxPixels} (a decompression bomb guard, as Pillow's MAX_IMAGE_PIXELS); ${howToRaise('maxImagePixels')}`);
  }
}

/** Checks a tensor's element count (a product of non-negative safe-integer dims) against the limit. */
export function checkTensorElements(shape: readonly number[], what: string, maxElements = inputLimits().maxTensorElements): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`${what}: shape [${shape.join(', ')}] has a dimension that is not a non-negative integer`);
    n *= d;
    if (n > maxElements) {
      throw new Error(`${what}: shape [${shape.join(', ')}] has more than ${maxElements} elements; ${howToRaise('maxTensorElements')}`);
    }
  }
  return n;
}

/**
 * A value for an error message: its JSON, cut to `max` characters, so that a hostile file
 * cannot turn one error into a megabyte of text (and a value JSON cannot show is named by type).
 */
export function briefJson(value: unknown, max = 80): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = typeof value;
  }
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
