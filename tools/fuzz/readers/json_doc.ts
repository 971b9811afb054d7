/**
 * Mutation of a JSON document reader's seeds (COCO annotations, results): JSON-level mutators,
 * byte-level mutators on the text, or one of the reader's own targeted mutators.
 */
import { type JsonLike, type Rng, cloneJson, mutateBytes, mutateJson, setAt, toJsonText } from '../mutate.js';
import { type FuzzCase, makeCase } from '../spec.js';

/** A targeted mutator: edits a clone of the seed document (returns a note), or null when it cannot act. */
export type DocMutator = (doc: Record<string, JsonLike>, rng: Rng) => string | null;

/**
 * Input `index` of a JSON document reader: 55% JSON mutators, 25% byte mutators on the text,
 * 20% the reader's targeted mutators (falling back to JSON mutators when none can act).
 */
export function generateJsonDoc(
  reader: string,
  index: number,
  seeds: ReadonlyArray<JsonLike>,
  targeted: Readonly<Record<string, DocMutator>>,
  rng: Rng,
  oracle: (bytes: Uint8Array) => string | null,
): FuzzCase {
  const seed = rng.int(seeds.length);
  const name = `${reader}:${index}`;
  const file = `case-${index}.json`;
  const roll = rng.int(100);
  if (roll < 25) {
    const m = mutateBytes(new TextEncoder().encode(toJsonText(seeds[seed]!)), rng);
    return makeCase(name, file, m.bytes, m.mutator, `seed ${seed}: ${m.note}`, oracle);
  }
  if (roll < 45) {
    const key = rng.pick(Object.keys(targeted));
    const doc = cloneJson(seeds[seed]!) as Record<string, JsonLike>;
    const note = targeted[key]!(doc, rng);
    if (note !== null) return makeCase(name, file, toJsonText(doc), `targeted.${key}`, `seed ${seed}: ${note}`, oracle);
  }
  const m = mutateJson(seeds[seed]!, rng);
  return makeCase(name, file, m.text, m.mutator, `seed ${seed}: ${m.note}`, oracle);
}

/** `doc` with the node at `at` (an array of keys) replaced by `value` (a regression input builder). */
export function withValue(doc: JsonLike, at: Array<string | number>, value: JsonLike): string {
  return toJsonText(setAt(cloneJson(doc), at, value));
}
