/**
 * The parity adapters by fixture op name. Each family file maps the fixture's params and inputs
 * onto the project's API; an op without an adapter is reported as MISSING.
 */
import type { ParityAdapter } from '../harness.js';
import { adapters as norm } from './norm.js';
import { adapters as conv } from './conv.js';
import { adapters as pool } from './pool.js';
import { adapters as roi } from './roi.js';
import { adapters as losses } from './losses.js';

/** Every adapter, by op name (`conv2d`, `roi_align`, ...). */
export const adapters: Record<string, ParityAdapter> = { ...norm, ...conv, ...pool, ...roi, ...losses };
