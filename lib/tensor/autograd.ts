/**
 * Define-by-run reverse-mode automatic differentiation.
 *
 * Every differentiable op is built with {@link defineOp}: a forward function that computes the
 * output from its arguments, and right beside it a backward function that turns the gradient of
 * the output into one gradient per argument (the vector-Jacobian product). When any tensor
 * argument requires a gradient, the output records a {@link GradFn} node that points to its
 * inputs. {@link Tensor.backward} sorts those nodes topologically and runs each backward once,
 * adding up the gradients of tensors that were used more than once (micrograd's `backward()`,
 * with tensors and broadcasting).
 */
import { Tensor } from './tensor.js';
import { formatShape, sameShape } from './shape.js';
import { isFloating } from './dtype.js';

let gradEnabled = true;

/** Whether ops currently record the graph (false inside {@link noGrad}). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Runs `fn` with graph recording off and returns its result (PyTorch's `torch.no_grad()`).
 * Outputs computed inside do not require gradients. Nesting is allowed.
 */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** What an op's forward function may use besides its arguments. */
export interface ForwardContext<S> {
  /** For each argument: is it a tensor whose gradient the backward pass will need? */
  readonly needsInputGrad: readonly boolean[];
  /** Keeps state computed in forward (e.g. argmax indices) for the backward function. */
  save(state: S): void;
}

/** What an op's backward function receives besides the output gradient. */
export interface BackwardContext<A extends readonly unknown[], S> {
  /** The arguments the op was called with. */
  readonly args: A;
  /** The op's output (its value, detached from the graph). */
  readonly output: Tensor;
  /** What forward passed to `save` (undefined if it saved nothing). */
  readonly saved: S;
  /** For each argument: does this argument need a gradient? Skip the work when it does not. */
  readonly needsInputGrad: readonly boolean[];
}

/** One gradient per argument of the op: `null` (or `undefined`) for non-tensors or no gradient. */
export type InputGrads = ReadonlyArray<Tensor | null | undefined>;

/**
 * The definition of a differentiable op: a name, a forward and a backward function.
 * `A` is the tuple of the op's arguments (tensors and plain options alike); `S` is the type of
 * the state forward saves for backward.
 */
export interface OpDefinition<A extends readonly unknown[], S = undefined> {
  /** The op's name, used in error messages and in `grad_fn=<NameBackward>`. */
  readonly name: string;
  /** Computes the output. It runs with recording off: ops used inside it are not recorded. */
  forward(ctx: ForwardContext<S>, ...args: A): Tensor;
  /**
   * Returns, for each argument, the gradient of the loss with respect to it, given `grad`, the
   * gradient with respect to the output. A returned gradient must have its argument's shape.
   * It runs with recording off.
   */
  backward(grad: Tensor, ctx: BackwardContext<A, S>): InputGrads;
}

/**
 * A node of the recorded graph: the op that produced a tensor, its tensor inputs, and how to
 * push a gradient back to them.
 */
export class GradFn {
  /** The tensor arguments of the op, by argument position (`null` for non-tensor arguments). */
  inputs: ReadonlyArray<Tensor | null>;
  private apply: ((grad: Tensor) => InputGrads) | null;

  /** @internal */
  constructor(
    /** The op's name (`mul`, `conv2d`, ...). */
    readonly name: string,
    inputs: ReadonlyArray<Tensor | null>,
    apply: (grad: Tensor) => InputGrads,
  ) {
    this.inputs = inputs;
    this.apply = apply;
  }

  /** True once a backward pass without `retainGraph` has run through this node. */
  get released(): boolean {
    return this.apply === null;
  }

  /** @internal Runs the op's backward. */
  run(grad: Tensor): InputGrads {
    if (this.apply === null) {
      throw new Error(
        `backward: the graph through ${this.name} was already freed by an earlier backward(); ` +
          'call backward({retainGraph: true}) the first time to go through it twice',
      );
    }
    return this.apply(grad);
  }

  /** @internal Drops the saved tensors (the graph is freed after backward). */
  release(): void {
    this.apply = null;
    this.inputs = this.inputs.map(() => null);
  }

  /** `MulBackward`, as PyTorch prints it. */
  toString(): string {
    return `${this.name.charAt(0).toUpperCase()}${this.name.slice(1)}Backward`;
  }
}

/**
 * Builds a differentiable op from a forward and a backward function: the one mechanism by which
 * every op of the engine (and every kernel of `lib/ops`) joins autograd.
 *
 * @example
 * ```ts
 * const square = defineOp({
 *   name: 'square',
 *   forward: (_ctx, x: Tensor) => x.mul(x),
 *   backward: (grad, { args: [x] }) => [grad.mul(x).mul(2)],
 * });
 * ```
 */
export function defineOp<A extends readonly unknown[], S = undefined>(def: OpDefinition<A, S>): (...args: A) => Tensor {
  return (...args: A): Tensor => {
    const needsInputGrad = args.map((a) => a instanceof Tensor && a.requiresGrad);
    const record = gradEnabled && needsInputGrad.some((x) => x);
    let saved = undefined as S;
    const ctx: ForwardContext<S> = {
      needsInputGrad: record ? needsInputGrad : args.map(() => false),
      save: (state) => {
        saved = state;
      },
    };
    let output = noGrad(() => def.forward(ctx, ...args));
    // An op may return one of its arguments unchanged (e.g. a reshape to the same shape); the
    // output must be a tensor of its own so that it can carry its own grad_fn.
    if (args.includes(output)) output = new Tensor(output.data, output.shape, output.dtype);
    // Integer outputs (indices, masks, casts to int32) carry no gradient, as in PyTorch.
    if (!record || !isFloating(output.dtype)) return output;
    const value = new Tensor(output.data, output.shape, output.dtype);
    const inputs = args.map((a) => (a instanceof Tensor && a.requiresGrad ? a : null));
    const backwardContext: BackwardContext<A, S> = { args, output: value, saved, needsInputGrad };
    output.gradFn = new GradFn(def.name, inputs, (grad) => def.backward(grad, backwardContext));
    return output;
  };
}

/** The nodes reachable from `root`, ordered so that every tensor comes before its inputs. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // An explicit stack rather than recursion: a training step's graph can be thousands deep.
  const stack: Array<[Tensor, number]> = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [t, next] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (next < inputs.length) {
      top[1]++;
      const input = inputs[next];
      if (input && !visited.has(input)) {
        visited.add(input);
        stack.push([input, 0]);
      }
    } else {
      stack.pop();
      order.push(t); // post-order: inputs first
    }
  }
  return order.reverse();
}

/** @internal The engine behind {@link Tensor.backward}. */
export function runBackward(root: Tensor, gradient: Tensor, retainGraph: boolean): void {
  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, gradient]]);
  noGrad(() => {
    for (const t of order) {
      const grad = grads.get(t);
      if (grad === undefined) continue;
      grads.delete(t);
      if (t.gradFn === null || t.retainsGrad) {
        // Leaves (and non-leaves that asked for it with retainGrad) accumulate into .grad.
        t.grad = t.grad === null ? grad.clone() : t.grad.add(grad);
      }
      const node = t.gradFn;
      if (node === null) continue;
      const inputGrads = node.run(grad);
      node.inputs.forEach((input, i) => {
        if (input === null) return;
        let g = inputGrads[i];
        if (g === null || g === undefined) return;
        if (!sameShape(g.shape, input.shape)) {
          throw new Error(
            `${node.name}: backward returned a gradient of shape ${formatShape(g.shape)} ` +
              `for argument ${i} of shape ${formatShape(input.shape)}`,
          );
        }
        if (g.dtype !== input.dtype) g = g.to(input.dtype);
        const previous = grads.get(input);
        grads.set(input, previous === undefined ? g : previous.add(g));
      });
      if (!retainGraph) node.release();
    }
  });
}
