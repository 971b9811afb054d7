/**
 * Parity adapters for the pool family of ops.
 */
import type { ParityAdapter } from '../harness.js';

/** Adapters of this family, by fixture op name. */
export const adapters: Record<string, ParityAdapter> = {};
