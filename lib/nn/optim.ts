/**
 * Optimisers with PyTorch's update rules (torch 1.13, `torch/optim/{sgd,adam,adamw}.py`,
 * single-tensor path): {@link SGD} (momentum, dampening, Nesterov, L2 weight decay),
 * {@link Adam} and {@link AdamW} (bias correction, optional AMSGrad), and
 * {@link clipGradNorm}.
 *
 * Parameters are updated in place (their storage is shared with the modules). State (momentum
 * buffers, moment estimates, step counts) is kept per parameter in float32, as PyTorch keeps it
 * for float32 parameters, and {@link Optimizer.stateDict} / {@link Optimizer.loadStateDict}
 * save and restore all of it, so that an interrupted training run resumes bit for bit.
 */
import { Tensor, noGrad, zeros } from '../tensor/index.js';

/** A hyper-parameter value of a parameter group. */
export type HyperParameter = number | boolean | readonly number[];

/** The hyper-parameter every optimiser has. */
export interface LearningRate {
  /** The learning rate (the step size). */
  lr: number;
}

/** A group of parameters as given to an optimiser's constructor (with optional hyper-parameter overrides beside it). */
export interface ParamGroupSpec {
  /** The group's parameters. */
  params: Iterable<Tensor>;
}

/** The parameters of a saved group, by index. */
export interface SavedGroupParams {
  /** The indices of the group's parameters (counted over all groups, in order). */
  params: number[];
}

/** A set of parameters with its own hyper-parameters (PyTorch's param groups). */
export interface ParamGroup<H> {
  /** The parameters of this group. */
  params: Tensor[];
  /** The group's hyper-parameters (`lr`, `momentum`, ...); schedulers change `lr`. */
  options: H;
  /** The learning rate the group started with (set by a scheduler, PyTorch's `initial_lr`). */
  initialLr?: number;
}

/** What the constructor of an optimiser accepts: a list of parameters, or groups each with overrides. */
export type ParamsInput<H> = Iterable<Tensor> | ReadonlyArray<ParamGroupSpec & Partial<H>>;

/** A saved optimiser state: per-parameter tensors and numbers, and the groups' hyper-parameters. */
export interface OptimizerStateDict {
  /** Per parameter (by its index over all groups, in order), its state tensors and numbers. */
  state: Record<string, Record<string, Tensor | number>>;
  /** Per group, its hyper-parameters and the indices of its parameters. */
  paramGroups: Array<Record<string, HyperParameter> & SavedGroupParams>;
}

/**
 * The base of the optimisers: parameter groups, per-parameter state, `zeroGrad`, `step` and
 * state dicts. A subclass implements {@link Optimizer.updateGroup}.
 */
export abstract class Optimizer<H extends LearningRate> {
  /** The parameter groups, each with its hyper-parameters. */
  readonly paramGroups: Array<ParamGroup<H>>;
  /** Per-parameter state (created on the parameter's first update). */
  readonly state = new Map<Tensor, Record<string, Tensor | number>>();

  /** Builds the groups from `params` and the optimiser's `defaults`. */
  protected constructor(
    /** The optimiser's name, for error messages. */
    readonly name: string,
    params: ParamsInput<H>,
    /** The hyper-parameters that groups do not override. */
    readonly defaults: H,
  ) {
    const list = [...(params as Iterable<unknown>)];
    if (list.length === 0) throw new Error(`${name}: got an empty parameter list`);
    const groups = list[0] instanceof Tensor ? [{ params: list as Tensor[] }] : (list as Array<ParamGroupSpec & Partial<H>>);
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((g, gi) => {
      const { params: ps, ...overrides } = g;
      const tensors = [...ps];
      for (const p of tensors) {
        if (!(p instanceof Tensor)) throw new Error(`${name}: group ${gi} contains something that is not a tensor`);
        if (!p.isLeaf) throw new Error(`${name}: can only optimise leaf tensors (group ${gi})`);
        if (p.dtype === 'int32') throw new Error(`${name}: can only optimise floating tensors (group ${gi})`);
        if (seen.has(p)) throw new Error(`${name}: a parameter appears in more than one group (group ${gi})`);
        seen.add(p);
      }
      return { params: tensors, options: { ...defaults, ...(overrides as Partial<H>) } };
    });
  }

  /** Clears every parameter's gradient (sets `.grad` to `null`, PyTorch's default `set_to_none`). */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.grad = null;
  }

  /** Applies one update to every parameter that has a gradient (parameters without one are skipped). */
  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        const withGrad = group.params.filter((p) => p.grad !== null);
        this.updateGroup(group.options, withGrad);
      }
    });
  }

  /** Updates the parameters `params` (all with gradients) of one group with its hyper-parameters. */
  protected abstract updateGroup(options: H, params: Tensor[]): void;

  /** The state of `p`, created empty on first use. */
  protected stateOf(p: Tensor): Record<string, Tensor | number> {
    let s = this.state.get(p);
    if (s === undefined) {
      s = {};
      this.state.set(p, s);
    }
    return s;
  }

  /** The float32 buffer `key` of `p`'s state, created as zeros of `p`'s shape. */
  protected buffer(p: Tensor, key: string): Float32Array | Float64Array {
    const s = this.stateOf(p);
    let t = s[key];
    if (!(t instanceof Tensor)) {
      t = zeros(p.shape, { dtype: p.dtype });
      s[key] = t;
    }
    return t.data as Float32Array | Float64Array;
  }

  /**
   * The optimiser's full state: copies of every state tensor, the numbers (step counts), and
   * each group's hyper-parameters with its parameters as indices (PyTorch's layout).
   */
  stateDict(): OptimizerStateDict {
    const state: OptimizerStateDict['state'] = {};
    let index = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const params: number[] = [];
      for (const p of g.params) {
        const s = this.state.get(p);
        if (s !== undefined) {
          state[String(index)] = Object.fromEntries(
            Object.entries(s).map(([k, v]) => [k, v instanceof Tensor ? new Tensor(v.data.slice(), v.shape, v.dtype) : v]),
          );
        }
        params.push(index++);
      }
      const hyper: Record<string, HyperParameter> = { ...(g.options as unknown as Record<string, HyperParameter>) };
      if (g.initialLr !== undefined) hyper['initial_lr'] = g.initialLr;
      return { ...hyper, params };
    });
    return { state, paramGroups };
  }

  /**
   * Restores a state saved by {@link Optimizer.stateDict} from an optimiser built over the same
   * parameters (same groups, same sizes): hyper-parameters, step counts and buffers.
   */
  loadStateDict(dict: OptimizerStateDict): void {
    const op = `${this.name}.loadStateDict`;
    if (dict.paramGroups.length !== this.paramGroups.length) {
      throw new Error(`${op}: the saved state has ${dict.paramGroups.length} parameter groups, this optimiser has ${this.paramGroups.length}`);
    }
    const byIndex: Tensor[] = [];
    dict.paramGroups.forEach((saved, gi) => {
      const group = this.paramGroups[gi]!;
      if (saved.params.length !== group.params.length) {
        throw new Error(`${op}: group ${gi} has ${saved.params.length} parameters in the saved state, ${group.params.length} here`);
      }
      saved.params.forEach((index, k) => (byIndex[index] = group.params[k]!));
    });
    for (const [key, entries] of Object.entries(dict.state)) {
      const p = byIndex[Number(key)];
      if (p === undefined) throw new Error(`${op}: the saved state names parameter ${key}, which no group lists`);
      for (const [name, v] of Object.entries(entries)) {
        if (v instanceof Tensor && v.shape.join() !== p.shape.join()) {
          throw new Error(`${op}: state '${name}' of parameter ${key} has shape [${v.shape}] but the parameter has shape [${p.shape}]`);
        }
      }
    }
    this.state.clear();
    for (const [key, entries] of Object.entries(dict.state)) {
      const p = byIndex[Number(key)]!;
      this.state.set(
        p,
        Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, v instanceof Tensor ? new Tensor(v.data.slice(), v.shape, v.dtype) : v])),
      );
    }
    dict.paramGroups.forEach((saved, gi) => {
      const group = this.paramGroups[gi]!;
      const { params: _params, initial_lr: initialLr, ...hyper } = saved;
      group.options = { ...group.options, ...(hyper as unknown as Partial<H>) };
      if (typeof initialLr === 'number') group.initialLr = initialLr;
    });
  }
}

/** Hyper-parameters of {@link SGD}. */
export interface SGDOptions {
  /** Learning rate. */
  lr: number;
  /** Momentum factor (default 0). */
  momentum: number;
  /** Dampening of the momentum (default 0). */
  dampening: number;
  /** L2 penalty added to the gradient: `d_p = grad + weightDecay * p` (default 0). */
  weightDecay: number;
  /** Nesterov momentum (default `false`; needs momentum > 0 and dampening 0). */
  nesterov: boolean;
  /** Maximise the objective instead (default `false`). */
  maximize: boolean;
}

/**
 * Stochastic gradient descent with momentum, as PyTorch computes it:
 * ```
 * d_p = grad + weight_decay * p
 * buf = d_p                                    (first step)
 * buf = momentum * buf + (1 - dampening) * d_p (later steps)
 * d_p = nesterov ? d_p + momentum * buf : buf
 * p   = p - lr * d_p
 * ```
 * Mask R-CNN trains with lr 0.02, momentum 0.9, weight decay 1e-4 (section 3.1, "Training").
 */
export class SGD extends Optimizer<SGDOptions> {
  /** An SGD optimiser over `params`; `lr` is required. */
  constructor(params: ParamsInput<SGDOptions>, options: Partial<SGDOptions> & LearningRate) {
    const defaults: SGDOptions = { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...options };
    checkHyper('SGD', defaults);
    if (defaults.nesterov && (defaults.momentum <= 0 || defaults.dampening !== 0)) {
      throw new Error('SGD: Nesterov momentum requires a momentum and zero dampening');
    }
    super('SGD', params, defaults);
  }

  protected updateGroup(o: SGDOptions, params: Tensor[]): void {
    for (const p of params) {
      const hasBuffer = this.state.get(p)?.['momentum_buffer'] instanceof Tensor;
      const buf = o.momentum !== 0 ? this.buffer(p, 'momentum_buffer') : null;
      sgdUpdate(p.data as FloatArray, p.grad!.data as FloatArray, buf, hasBuffer, o);
    }
  }
}

/** A floating storage (the parameters, gradients and state buffers an optimiser updates). */
type FloatArray = Float32Array | Float64Array;

/**
 * One SGD update of one parameter, in place, as one loop with the hyper-parameters hoisted out
 * of it (the arithmetic, and so every rounding to float32, is that of the formula on {@link SGD}).
 */
function sgdUpdate(x: FloatArray, grad: FloatArray, buf: FloatArray | null, hasBuffer: boolean, o: SGDOptions): void {
  const n = x.length;
  const lr = o.lr;
  const wd = o.weightDecay;
  const momentum = o.momentum;
  const keep = 1 - o.dampening;
  const sign = o.maximize ? -1 : 1;
  if (buf === null) {
    if (wd === 0) for (let i = 0; i < n; i++) x[i] = x[i]! - lr * (sign * grad[i]!);
    else for (let i = 0; i < n; i++) x[i] = x[i]! - lr * Math.fround(sign * grad[i]! + wd * x[i]!);
    return;
  }
  const nesterov = o.nesterov;
  if (hasBuffer && !nesterov && sign === 1) {
    // The usual step (momentum buffer present, no Nesterov, minimising), without branches in the
    // loop: V8 runs this two to three times faster than the general loop below.
    if (wd === 0) {
      for (let i = 0; i < n; i++) {
        buf[i] = Math.fround(momentum * buf[i]!) + keep * grad[i]!;
        x[i] = x[i]! - lr * buf[i]!;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const xi = x[i]!;
        buf[i] = Math.fround(momentum * buf[i]!) + keep * Math.fround(grad[i]! + wd * xi);
        x[i] = xi - lr * buf[i]!;
      }
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const xi = x[i]!;
    let d = sign * grad[i]!;
    if (wd !== 0) d = Math.fround(d + wd * xi);
    const b = hasBuffer ? Math.fround(momentum * buf[i]!) + keep * d : d;
    buf[i] = b;
    d = nesterov ? Math.fround(d + momentum * buf[i]!) : buf[i]!;
    x[i] = xi - lr * d;
  }
}

/** Hyper-parameters of {@link Adam} and {@link AdamW}. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Decay rates of the first and second moment estimates (default `[0.9, 0.999]`). */
  betas: readonly [number, number];
  /** Added to the denominator for numerical stability (default 1e-8). */
  eps: number;
  /** Adam: L2 penalty added to the gradient (default 0). AdamW: decoupled decay `p *= 1 - lr * weightDecay` (default 1e-2). */
  weightDecay: number;
  /** Use the maximum of past second moments (AMSGrad, Reddi et al. 2018; default `false`). */
  amsgrad: boolean;
  /** Maximise the objective instead (default `false`). */
  maximize: boolean;
}

function checkHyper(name: string, o: { lr: number; weightDecay: number; momentum?: number; eps?: number; betas?: readonly number[] }): void {
  if (!(o.lr >= 0)) throw new Error(`${name}: invalid learning rate ${o.lr}`);
  if (!(o.weightDecay >= 0)) throw new Error(`${name}: invalid weightDecay ${o.weightDecay}`);
  if (o.momentum !== undefined && !(o.momentum >= 0)) throw new Error(`${name}: invalid momentum ${o.momentum}`);
  if (o.eps !== undefined && !(o.eps >= 0)) throw new Error(`${name}: invalid eps ${o.eps}`);
  if (o.betas !== undefined && (o.betas.length !== 2 || o.betas.some((b) => !(b >= 0 && b < 1)))) {
    throw new Error(`${name}: betas must be two numbers in [0, 1), got ${JSON.stringify(o.betas)}`);
  }
}

/**
 * Adam (Kingma & Ba, ICLR 2015, algorithm 1), as PyTorch's `torch.optim.Adam` computes it;
 * `weightDecay` is an L2 penalty added to the gradient. {@link AdamW} decouples the decay.
 * ```
 * t += 1
 * g  = grad + wd * p                   (Adam)        p = p * (1 - lr * wd)   (AdamW)
 * m  = b1 m + (1 - b1) g
 * v  = b2 v + (1 - b2) g^2
 * v_max = max(v_max, v)                (AMSGrad; then v_max replaces v below)
 * p  = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * ```
 */
export class Adam extends Optimizer<AdamOptions> {
  /** Whether weight decay is decoupled from the gradient (AdamW). */
  protected readonly decoupled: boolean = false;

  /** An Adam optimiser over `params` (default lr 1e-3, betas [0.9, 0.999], eps 1e-8, no decay). */
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}, name = 'Adam') {
    const defaults: AdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, ...options };
    checkHyper(name, defaults);
    super(name, params, defaults);
  }

  protected updateGroup(o: AdamOptions, params: Tensor[]): void {
    for (const p of params) {
      const s = this.stateOf(p);
      const step = ((s['step'] as number | undefined) ?? 0) + 1;
      s['step'] = step;
      const expAvg = this.buffer(p, 'exp_avg');
      const expAvgSq = this.buffer(p, 'exp_avg_sq');
      const maxExpAvgSq = o.amsgrad ? this.buffer(p, 'max_exp_avg_sq') : null;
      adamUpdate(p.data as FloatArray, p.grad!.data as FloatArray, expAvg, expAvgSq, maxExpAvgSq, step, this.decoupled, o);
    }
  }
}

/**
 * One Adam or AdamW update of one parameter at step `step`, in place, as one loop with the
 * hyper-parameters hoisted out of it (the arithmetic, and so every rounding to float32, is that
 * of the formula on {@link Adam}).
 */
function adamUpdate(
  x: FloatArray,
  grad: FloatArray,
  expAvg: FloatArray,
  expAvgSq: FloatArray,
  maxExpAvgSq: FloatArray | null,
  step: number,
  decoupled: boolean,
  o: AdamOptions,
): void {
  const [beta1, beta2] = o.betas;
  const biasCorrection1 = 1 - beta1 ** step;
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
  const stepSize = o.lr / biasCorrection1;
  const eps = o.eps;
  const wd = o.weightDecay;
  const shrink = 1 - o.lr * o.weightDecay;
  const l2 = !decoupled && wd !== 0;
  const oneMinusBeta1 = 1 - beta1;
  const oneMinusBeta2 = 1 - beta2;
  const sign = o.maximize ? -1 : 1;
  const n = x.length;
  if (decoupled && maxExpAvgSq === null && sign === 1 && x instanceof Float32Array && expAvg instanceof Float32Array && expAvgSq instanceof Float32Array) {
    // AdamW's usual step (float32, no AMSGrad, minimising), without branches in the loop; each
    // Math.fround is the rounding of a store to the float32 storage in the general loop below.
    for (let i = 0; i < n; i++) {
      const g = grad[i]!;
      const xi = Math.fround(x[i]! * shrink);
      const m = Math.fround(Math.fround(expAvg[i]! * beta1) + g * oneMinusBeta1);
      const v = Math.fround(Math.fround(expAvgSq[i]! * beta2) + Math.fround(g * g) * oneMinusBeta2);
      expAvg[i] = m;
      expAvgSq[i] = v;
      const denom = Math.fround(Math.fround(Math.sqrt(v)) / biasCorrection2Sqrt) + eps;
      x[i] = xi - stepSize * Math.fround(m / Math.fround(denom));
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    let g = sign * grad[i]!;
    let xi = x[i]!;
    if (decoupled) {
      x[i] = xi * shrink;
      xi = x[i]!;
    } else if (l2) g = Math.fround(g + wd * xi);
    expAvg[i] = Math.fround(expAvg[i]! * beta1) + g * oneMinusBeta1;
    expAvgSq[i] = Math.fround(expAvgSq[i]! * beta2) + Math.fround(g * g) * oneMinusBeta2;
    let v = expAvgSq[i]!;
    if (maxExpAvgSq !== null) {
      maxExpAvgSq[i] = Math.max(maxExpAvgSq[i]!, v);
      v = maxExpAvgSq[i]!;
    }
    const denom = Math.fround(Math.fround(Math.sqrt(v)) / biasCorrection2Sqrt) + eps;
    x[i] = xi - stepSize * Math.fround(expAvg[i]! / Math.fround(denom));
  }
}

/**
 * AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019), PyTorch's
 * `torch.optim.AdamW`: the decay shrinks the weights directly, `p *= 1 - lr * weightDecay`,
 * instead of entering the gradient (default weight decay 1e-2).
 */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  /** An AdamW optimiser over `params` (default lr 1e-3, betas [0.9, 0.999], eps 1e-8, weight decay 1e-2). */
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super(params, { weightDecay: 1e-2, ...options }, 'AdamW');
  }
}

/** Options of {@link clipGradNorm}. */
export interface ClipGradNormOptions {
  /** The norm's order: 2 (default) or `Infinity`. */
  normType?: number;
  /** Throw if the total norm is NaN or infinite (default `false`, as PyTorch). */
  errorIfNonfinite?: boolean;
}

/** The norm of order 2 or `Infinity` of `tensors` concatenated (2: the norm of the per-tensor norms, each in float32, as PyTorch). */
function totalNorm(tensors: readonly Tensor[], normType: number): number {
  if (normType === Infinity) {
    let total = 0;
    for (const g of tensors) {
      const d = g.data as FloatArray;
      const n = d.length;
      for (let i = 0; i < n; i++) total = Math.max(total, Math.abs(d[i]!));
    }
    return total;
  }
  let sumSquares = 0;
  for (const g of tensors) {
    const d = g.data as FloatArray;
    const n = d.length;
    let s = 0;
    for (let i = 0; i < n; i++) s += d[i]! * d[i]!;
    const norm = Math.fround(Math.sqrt(s));
    sumSquares += norm * norm;
  }
  return Math.fround(Math.sqrt(sumSquares));
}

function gradientsOf(params: Iterable<Tensor>): Tensor[] {
  return [...params].map((p) => p.grad).filter((g): g is Tensor => g !== null);
}

function checkNormType(op: string, normType: number): void {
  if (normType !== 2 && normType !== Infinity) throw new Error(`${op}: normType must be 2 or Infinity, got ${normType}`);
}

/**
 * The total norm of the gradients of `params` (the norm of all of them concatenated), of order
 * 2 (default) or `Infinity`, leaving them unchanged: what {@link clipGradNorm} measures, for
 * logging when nothing is clipped. Parameters without a gradient are ignored.
 */
export function gradNorm(params: Iterable<Tensor>, normType = 2): number {
  checkNormType('gradNorm', normType);
  return totalNorm(gradientsOf(params), normType);
}

/**
 * Rescales the gradients of `params` in place so that their total norm (the norm of all of them
 * concatenated) is at most `maxNorm`, and returns the total norm before clipping (PyTorch's
 * `clip_grad_norm_`): every gradient is multiplied by `min(1, maxNorm / (total + 1e-6))`.
 * Parameters without a gradient are ignored.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, options: ClipGradNormOptions = {}): number {
  const normType = options.normType ?? 2;
  checkNormType('clipGradNorm', normType);
  const grads = gradientsOf(params);
  if (grads.length === 0) return 0;
  const total = totalNorm(grads, normType);
  if (options.errorIfNonfinite && !Number.isFinite(total)) {
    throw new Error(`clipGradNorm: the total norm of order ${normType} of the gradients is non-finite (${total})`);
  }
  const coef = Math.min(Math.fround(maxNorm / (total + 1e-6)), 1);
  noGrad(() => {
    for (const g of grads) {
      const d = g.data as FloatArray;
      const n = d.length;
      for (let i = 0; i < n; i++) d[i] = d[i]! * coef;
    }
  });
  return total;
}
