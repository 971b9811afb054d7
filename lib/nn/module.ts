/**
 * `Module`: the unit a network is built from (PyTorch's `torch.nn.Module`).
 *
 * A module owns named **parameters** (tensors that the optimiser updates), named **buffers**
 * (tensors that are part of the state but are not trained, e.g. BatchNorm's running statistics)
 * and named **children** (sub-modules). Walking this tree gives every tensor a dotted name,
 * `layer1.0.conv1.weight`, exactly as torchvision's state dicts name it, so that a torchvision
 * checkpoint loads by name. `ModuleList` children are named `'0'`, `'1'`, ...
 *
 * A module computes with {@link Module.forward}. Calling `forward` *is* calling the module:
 * when a forward hook is registered, the module's `forward` is wrapped so that every caller
 * (a parent module, a test, a notebook) goes through the hooks. That is how a reader captures
 * any stage of a network by its name (`model.capture(['backbone.body.layer1'], () => ...)`).
 */
import { Tensor, noGrad } from '../tensor/index.js';
import { SafetensorsFile, saveSafetensors as writeSafetensors } from './safetensors.js';

/**
 * Called after a module's forward with the module, its arguments and its output. Returning
 * something other than `undefined` replaces the output (as in PyTorch).
 */
export type ForwardHook = (module: Module, inputs: readonly unknown[], output: unknown) => unknown;

/** What registering a hook returns: call `remove()` to unregister it. */
export interface HookHandle {
  /** Unregisters the hook (idempotent). */
  remove(): void;
}

/** A state dict: dotted names to tensors, in the order PyTorch's `state_dict()` lists them. */
export type StateDict = Map<string, Tensor>;

/** Options of {@link Module.loadStateDict}. */
export interface LoadStateDictOptions {
  /**
   * Require the keys of the dict and of the module to match exactly (default `true`). Shape
   * mismatches are always errors, as in PyTorch.
   */
  strict?: boolean;
}

/** What {@link Module.loadStateDict} did not find or did not use. */
export interface LoadStateDictResult {
  /** Keys of the module that the dict does not have (left unchanged). */
  missingKeys: string[];
  /** Keys of the dict that the module does not have (ignored). */
  unexpectedKeys: string[];
}

/** Options of {@link Module.loadSafetensors}. */
export interface LoadSafetensorsOptions extends LoadStateDictOptions {
  /**
   * Load only the file's tensors whose names start with `prefix`, with it removed (e.g.
   * `'backbone.'` to load a detector checkpoint's backbone into a backbone module). Only those
   * tensors are read from the file.
   */
  prefix?: string;
}

/** Options of {@link Module.registerBuffer}. */
export interface BufferOptions {
  /** Whether the buffer is part of the state dict (default `true`). */
  persistent?: boolean;
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

function checkName(kind: string, name: string): void {
  if (typeof name !== 'string' || name === '' || name.includes('.')) {
    throw new Error(`Module: ${kind} name must be a non-empty string without '.', got ${JSON.stringify(name)}`);
  }
}

/**
 * The base class of every layer and network. Subclasses register their tensors and children
 * in the constructor and implement {@link Module.forward}:
 *
 * @example
 * ```ts
 * class TwoLayer extends Module {
 *   readonly fc1 = this.registerModule('fc1', new Linear(4, 8));
 *   readonly fc2 = this.registerModule('fc2', new Linear(8, 2));
 *   forward(x: Tensor): Tensor {
 *     return this.fc2.forward(this.fc1.forward(x).relu());
 *   }
 * }
 * ```
 */
export abstract class Module {
  /** Training mode (`true`, the default) or evaluation mode; see {@link Module.train}. */
  training = true;
  private readonly parametersByName = new Map<string, Tensor | null>();
  private readonly buffersByName = new Map<string, Tensor | null>();
  private readonly nonPersistent = new Set<string>();
  private readonly childrenByName = new Map<string, Module>();
  private readonly hooks: ForwardHook[] = [];
  private ownForward: PropertyDescriptor | undefined;

  /** Computes the module's output. Subclasses define its arguments and result. */
  abstract forward(...args: never[]): unknown;

  // ---------------------------------------------------------------- registration

  /**
   * Registers `tensor` as the parameter `name` (it becomes a leaf that requires gradients) and
   * returns it, so that a constructor can write `this.weight = this.registerParameter('weight', w)`.
   * `null` registers an absent parameter (e.g. a convolution without bias), which the state dict skips.
   */
  registerParameter<T extends Tensor | null>(name: string, tensor: T): T {
    checkName('parameter', name);
    this.checkFree(name, this.parametersByName);
    if (tensor !== null) {
      if (!tensor.isLeaf) throw new Error(`Module.registerParameter: '${name}' must be a leaf tensor (use detach())`);
      tensor.requiresGrad = true;
    }
    this.parametersByName.set(name, tensor);
    return tensor;
  }

  /**
   * Registers `tensor` as the buffer `name`: state that is saved and loaded but not trained
   * (running statistics, frozen affine terms). Non-persistent buffers stay out of the state dict.
   */
  registerBuffer<T extends Tensor | null>(name: string, tensor: T, options: BufferOptions = {}): T {
    checkName('buffer', name);
    this.checkFree(name, this.buffersByName);
    this.buffersByName.set(name, tensor);
    if (options.persistent === false) this.nonPersistent.add(name);
    return tensor;
  }

  /** Registers `module` as the child `name` and returns it. */
  registerModule<M extends Module>(name: string, module: M): M {
    checkName('child module', name);
    if (!(module instanceof Module)) throw new Error(`Module.registerModule: '${name}' is not a Module`);
    this.checkFree(name, this.childrenByName);
    this.childrenByName.set(name, module);
    return module;
  }

  private checkFree(name: string, own: Map<string, unknown>): void {
    for (const [kind, map] of [
      ['parameter', this.parametersByName],
      ['buffer', this.buffersByName],
      ['child module', this.childrenByName],
    ] as const) {
      if (map !== own && map.has(name)) throw new Error(`Module: '${name}' is already a ${kind} of ${this.constructor.name}`);
    }
    if (own.has(name)) throw new Error(`Module: '${name}' is registered twice in ${this.constructor.name}`);
  }

  // ---------------------------------------------------------------- walking the tree

  /** The direct children, by name, in registration order. */
  namedChildren(): Array<[string, Module]> {
    return [...this.childrenByName.entries()];
  }

  /** The direct children, in registration order. */
  children(): Module[] {
    return [...this.childrenByName.values()];
  }

  /** This module and every descendant, depth first (this one first, named `''`). */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, child] of this.childrenByName) out.push(...child.namedModules(prefix === '' ? name : `${prefix}.${name}`));
    return out;
  }

  /** This module and every descendant, depth first. */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /**
   * Every parameter with its dotted name (this module's own first, then each child's in order;
   * absent `null` parameters skipped). A tensor shared by two modules appears once.
   */
  namedParameters(options: { recurse?: boolean } = {}): Array<[string, Tensor]> {
    return this.namedTensors((m) => m.parametersByName, options.recurse ?? true, false);
  }

  /** Every parameter (see {@link Module.namedParameters}). */
  parameters(options: { recurse?: boolean } = {}): Tensor[] {
    return this.namedParameters(options).map(([, p]) => p);
  }

  /** Every buffer with its dotted name (persistent or not). */
  namedBuffers(options: { recurse?: boolean } = {}): Array<[string, Tensor]> {
    return this.namedTensors((m) => m.buffersByName, options.recurse ?? true, false);
  }

  /** Every buffer. */
  buffers(options: { recurse?: boolean } = {}): Tensor[] {
    return this.namedBuffers(options).map(([, b]) => b);
  }

  private namedTensors(pick: (m: Module) => Map<string, Tensor | null>, recurse: boolean, persistentOnly: boolean): Array<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const out: Array<[string, Tensor]> = [];
    const modules: Array<[string, Module]> = recurse ? this.namedModules() : [['', this]];
    for (const [prefix, m] of modules) {
      for (const [name, t] of pick(m)) {
        if (t === null || seen.has(t)) continue;
        if (persistentOnly && m.nonPersistent.has(name)) continue;
        seen.add(t);
        out.push([prefix === '' ? name : `${prefix}.${name}`, t]);
      }
    }
    return out;
  }

  /** The child module at a dotted path (`'backbone.body.layer1'`; `''` is this module). */
  getSubmodule(path: string): Module {
    if (path === '') return this;
    let m: Module = this;
    const walked: string[] = [];
    for (const part of path.split('.')) {
      const next = m.childrenByName.get(part);
      if (next === undefined) {
        const at = walked.length === 0 ? m.constructor.name : `'${walked.join('.')}' (${m.constructor.name})`;
        throw new Error(`getSubmodule: ${at} has no child '${part}' (children: ${[...m.childrenByName.keys()].join(', ') || 'none'})`);
      }
      walked.push(part);
      m = next;
    }
    return m;
  }

  /** Calls `fn` on every module of the tree (children first, as PyTorch's `apply`), and returns this. */
  apply(fn: (module: Module) => void): this {
    for (const child of this.childrenByName.values()) child.apply(fn);
    fn(this);
    return this;
  }

  /** The total number of elements of the parameters (only trainable ones with `trainableOnly`). */
  numParameters(options: { trainableOnly?: boolean } = {}): number {
    return this.parameters()
      .filter((p) => !options.trainableOnly || p.requiresGrad)
      .reduce((n, p) => n + p.size, 0);
  }

  // ---------------------------------------------------------------- modes and gradients

  /** Switches this module and every descendant to training mode (`mode = false`: evaluation). */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Switches to evaluation mode: BatchNorm uses its running statistics. */
  eval(): this {
    return this.train(false);
  }

  /**
   * Sets `requiresGrad` on every parameter (PyTorch's `requires_grad_`): `requiresGrad_(false)`
   * freezes the module, the optimiser then skips its parameters (they get no gradient).
   */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad = requiresGrad;
    return this;
  }

  /** Clears the gradients of every parameter (sets `.grad` to `null`, as PyTorch's default). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  // ---------------------------------------------------------------- state dicts

  /**
   * Keys that {@link Module.loadStateDict} accepts and ignores for this module (relative to
   * it). torchvision's `FrozenBatchNorm2d` drops `num_batches_tracked` this way.
   */
  protected ignoredStateKeys(): readonly string[] {
    return [];
  }

  /**
   * The module's state: every parameter and persistent buffer by dotted name, in PyTorch's
   * order (each module's parameters, then its buffers, then its children). The tensors are
   * detached views that share storage with the module.
   */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    const visit = (m: Module, prefix: string): void => {
      for (const [name, p] of m.parametersByName) if (p !== null) out.set(prefix + name, p.detach());
      for (const [name, b] of m.buffersByName) if (b !== null && !m.nonPersistent.has(name)) out.set(prefix + name, b.detach());
      for (const [name, child] of m.childrenByName) visit(child, `${prefix}${name}.`);
    };
    visit(this, '');
    return out;
  }

  /**
   * Copies the tensors of `dict` into the module's parameters and buffers, in place (so that
   * references to them stay valid). Everything is checked before anything is copied: a shape
   * mismatch always throws; with `strict` (the default) missing and unexpected keys throw too.
   * The error lists every missing key, every unexpected key and every shape mismatch.
   */
  loadStateDict(dict: Map<string, Tensor> | Record<string, Tensor>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const source = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const own = this.stateDict();
    const ignored = new Set<string>();
    for (const [prefix, m] of this.namedModules()) {
      for (const key of m.ignoredStateKeys()) ignored.add(prefix === '' ? key : `${prefix}.${key}`);
    }
    const missingKeys = [...own.keys()].filter((k) => !source.has(k));
    const unexpectedKeys = [...source.keys()].filter((k) => !own.has(k) && !ignored.has(k));
    const mismatches: string[] = [];
    for (const [key, target] of own) {
      const value = source.get(key);
      if (value === undefined) continue;
      if (!(value instanceof Tensor)) {
        mismatches.push(`${key}: the dict holds ${typeof value}, not a tensor`);
      } else if (value.shape.join() !== target.shape.join()) {
        mismatches.push(
          `size mismatch for ${key}: copying a tensor of shape ${formatShape(value.shape)} from the dict, ` +
            `the shape in the current model is ${formatShape(target.shape)}`,
        );
      }
    }
    const problems: string[] = [];
    if (strict && missingKeys.length > 0) problems.push(`Missing key(s): ${missingKeys.join(', ')}.`);
    if (strict && unexpectedKeys.length > 0) problems.push(`Unexpected key(s): ${unexpectedKeys.join(', ')}.`);
    if (mismatches.length > 0) problems.push(`Shape mismatch(es): ${mismatches.join('; ')}.`);
    if (problems.length > 0) {
      throw new Error(`loadStateDict: error(s) loading the state dict of ${this.constructor.name}:\n  ${problems.join('\n  ')}`);
    }
    noGrad(() => {
      for (const [key, target] of own) {
        const value = source.get(key);
        if (value !== undefined) target.data.set(value.data);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Saves {@link Module.stateDict} to a safetensors file, atomically (int buffers such as
   * `num_batches_tracked` as I64, as PyTorch stores them).
   */
  saveSafetensors(path: string, options: { metadata?: Record<string, string>; floatDType?: 'F32' | 'F16' } = {}): void {
    writeSafetensors(path, this.stateDict(), { intDType: 'I64', ...options });
  }

  /**
   * Loads a safetensors file into the module by key name ({@link Module.loadStateDict}'s
   * checks; `prefix` selects and strips a part of the file's keys).
   */
  loadSafetensors(path: string, options: LoadSafetensorsOptions = {}): LoadStateDictResult {
    const file = SafetensorsFile.open(path);
    try {
      const prefix = options.prefix ?? '';
      const dict = new Map<string, Tensor>();
      for (const key of file.keys()) if (key.startsWith(prefix)) dict.set(key.slice(prefix.length), file.read(key));
      return this.loadStateDict(dict, options);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n  (while loading ${path}${options.prefix ? ` with prefix '${options.prefix}'` : ''})`);
    } finally {
      file.close();
    }
  }

  // ---------------------------------------------------------------- hooks

  /**
   * Registers a hook called after every forward of this module, or (with a dotted `path`
   * first) of the submodule at that path, e.g.
   * `model.registerForwardHook('backbone.body.layer1', (m, inputs, output) => ...)`.
   */
  registerForwardHook(hook: ForwardHook): HookHandle;
  registerForwardHook(path: string, hook: ForwardHook): HookHandle;
  registerForwardHook(pathOrHook: string | ForwardHook, maybeHook?: ForwardHook): HookHandle {
    if (typeof pathOrHook === 'string') {
      if (maybeHook === undefined) throw new Error('registerForwardHook: missing the hook function');
      return this.getSubmodule(pathOrHook).registerForwardHook(maybeHook);
    }
    const hook = pathOrHook;
    if (this.hooks.length === 0) this.wrapForward();
    this.hooks.push(hook);
    let removed = false;
    return {
      remove: () => {
        if (removed) return;
        removed = true;
        const i = this.hooks.indexOf(hook);
        if (i >= 0) this.hooks.splice(i, 1);
        if (this.hooks.length === 0) this.unwrapForward();
      },
    };
  }

  /** Gives this instance an own `forward` that calls the module's forward, then the hooks. */
  private wrapForward(): void {
    this.ownForward = Object.getOwnPropertyDescriptor(this, 'forward');
    const inner = this.forward as (...args: unknown[]) => unknown;
    const hooks = this.hooks;
    const wrapped = (...args: unknown[]): unknown => {
      let output = inner.apply(this, args);
      for (const hook of [...hooks]) {
        const replaced = hook(this, args, output);
        if (replaced !== undefined) output = replaced;
      }
      return output;
    };
    Object.defineProperty(this, 'forward', { value: wrapped, configurable: true, writable: true, enumerable: false });
  }

  /** Restores the forward that {@link Module.wrapForward} wrapped. */
  private unwrapForward(): void {
    if (this.ownForward === undefined) delete (this as unknown as { forward?: unknown }).forward; // back to the class's method
    else Object.defineProperty(this, 'forward', this.ownForward);
  }

  /**
   * Runs `fn` with forward hooks on the submodules at `paths` and returns `fn`'s result
   * together with what each of them output (the last output if one ran several times). The
   * hooks are removed afterwards, even if `fn` throws.
   *
   * @example
   * ```ts
   * const { result, outputs } = backbone.capture(['body.layer1', 'fpn'], () => backbone.forward(x));
   * const c2 = outputs.get('body.layer1') as Tensor;
   * ```
   */
  capture<T>(paths: readonly string[], fn: () => T): CaptureResult<T> {
    const outputs = new Map<string, unknown>();
    const handles: HookHandle[] = [];
    try {
      for (const path of paths) {
        handles.push(
          this.registerForwardHook(path, (_m, _inputs, output) => {
            outputs.set(path, output);
          }),
        );
      }
      const result = fn();
      return { result, outputs };
    } finally {
      for (const h of handles) h.remove();
    }
  }

  // ---------------------------------------------------------------- printing

  /** One line of this module's settings for {@link Module.toString} (e.g. `3, 16, kernel_size=[3,3]`). */
  protected extraRepr(): string {
    return '';
  }

  /** PyTorch-style text: the module tree with each layer's settings. */
  toString(): string {
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (this.childrenByName.size === 0) return `${head})`;
    const lines = [...this.childrenByName].map(([name, child]) => `  (${name}): ${child.toString().split('\n').join('\n  ')}`);
    return `${head}\n${lines.join('\n')}\n)`;
  }
}

/** A module that maps one tensor to one tensor: what {@link Sequential} chains. */
export interface TensorModule extends Module {
  /** The module's computation on one tensor. */
  forward(x: Tensor): Tensor;
}

/** What {@link Module.capture} returns. */
export interface CaptureResult<T> {
  /** What the captured function returned. */
  result: T;
  /** The output of each captured submodule, by its dotted path (the last output if it ran several times). */
  outputs: Map<string, unknown>;
}

/**
 * Chains modules: the output of each is the input of the next. Children are named `'0'`, `'1'`,
 * ... (torchvision's keys such as `layer2.0.downsample.0.weight`), or by the names given in a record.
 */
export class Sequential extends Module {
  private readonly layers: TensorModule[];

  /** The modules to chain, as a list (named by position) or a record (named by key, in order). */
  constructor(layers: readonly TensorModule[] | Record<string, TensorModule> = []) {
    super();
    const entries = Array.isArray(layers) ? layers.map((m, i) => [String(i), m] as const) : Object.entries(layers);
    this.layers = entries.map(([name, m]) => this.registerModule(name, m));
  }

  /** The number of chained modules. */
  get length(): number {
    return this.layers.length;
  }

  /** The module at position `index` (negative counts from the end). */
  at(index: number): TensorModule {
    const m = this.layers.at(index);
    if (m === undefined) throw new Error(`Sequential.at: index ${index} is out of range for ${this.layers.length} modules`);
    return m;
  }

  /** Applies the modules in order. */
  forward(x: Tensor): Tensor {
    for (const layer of this.layers) x = layer.forward(x);
    return x;
  }
}

/** A list of modules registered as children `'0'`, `'1'`, ... (PyTorch's `nn.ModuleList`); it has no forward of its own. */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];

  /** A list holding `modules`. */
  constructor(modules: readonly M[] = []) {
    super();
    for (const m of modules) this.append(m);
  }

  /** Adds `module` as the next child. */
  append(module: M): this {
    this.items.push(this.registerModule(String(this.items.length), module));
    return this;
  }

  /** The number of modules. */
  get length(): number {
    return this.items.length;
  }

  /** The module at position `index` (negative counts from the end). */
  at(index: number): M {
    const m = this.items.at(index);
    if (m === undefined) throw new Error(`ModuleList.at: index ${index} is out of range for ${this.items.length} modules`);
    return m;
  }

  /** Iterates over the modules in order. */
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  /** A ModuleList is a container: calling it is an error, as in PyTorch. */
  forward(): never {
    throw new Error('ModuleList has no forward: call its modules');
  }
}

/** Modules registered under string keys (PyTorch's `nn.ModuleDict`); it has no forward of its own. */
export class ModuleDict<M extends Module = Module> extends Module {
  private readonly items = new Map<string, M>();

  /** A dict holding `modules`, in the record's order. */
  constructor(modules: Record<string, M> = {}) {
    super();
    for (const [name, m] of Object.entries(modules)) this.set(name, m);
  }

  /** Adds `module` under `name`. */
  set(name: string, module: M): this {
    this.items.set(name, this.registerModule(name, module));
    return this;
  }

  /** The module under `name`. */
  get(name: string): M {
    const m = this.items.get(name);
    if (m === undefined) throw new Error(`ModuleDict.get: no module '${name}' (keys: ${[...this.items.keys()].join(', ')})`);
    return m;
  }

  /** Whether a module is registered under `name`. */
  has(name: string): boolean {
    return this.items.has(name);
  }

  /** The keys, in insertion order. */
  keys(): string[] {
    return [...this.items.keys()];
  }

  /** A ModuleDict is a container: calling it is an error, as in PyTorch. */
  forward(): never {
    throw new Error('ModuleDict has no forward: call its modules');
  }
}
