/**
 * What the course's browser pages share: drawing the library's {@link Canvas} pictures on a page,
 * the diverging colour scale of feature values, the backend picker and the short name of what
 * runs ("wasm, 2 threads", "gpu.js, webgl2"), and loading a weights file from bytes (the page
 * has no file system: the build inlines the zoo model).
 */
import { availableBackends, describeBackend, getBackend, gpuMode, setBackend, type BackendName } from '../lib/ops/index.js';
import { wasmThreadReport, whenWasmWorkersReady } from '../lib/ops/wasm/browser_workers.js';
import { decodeSafetensors } from '../lib/nn/index.js';
import { MaskRCNN, checkClassNames, labelNames, readConfigJson, WEIGHTS_CLASSES_KEY, WEIGHTS_CONFIG_KEY, type Canvas } from '../lib/maskrcnn/index.js';

/** The element with `id`, typed; throws naming it when the page lacks it. */
export function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no element #${id}`);
  return el as T;
}

/** Draws a library {@link Canvas} (RGBA) into a page canvas, scaled by `zoom` with square pixels. */
export function showCanvas(target: HTMLCanvasElement, picture: Canvas, zoom = 1): void {
  const src = document.createElement('canvas');
  src.width = picture.width;
  src.height = picture.height;
  const image = new ImageData(Uint8ClampedArray.from(picture.data), picture.width, picture.height);
  src.getContext('2d')!.putImageData(image, 0, 0);
  target.width = Math.round(picture.width * zoom);
  target.height = Math.round(picture.height * zoom);
  const ctx = target.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(src, 0, 0, target.width, target.height);
}

/** A diverging colour for `v` in `[-limit, limit]`: blue below zero, white at zero, red above. */
export function divergingColor(v: number, limit: number): string {
  const t = Math.max(-1, Math.min(1, v / (limit || 1)));
  const a = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(255, ${a}, ${a})` : `rgb(${a}, ${a}, 255)`;
}

/**
 * What runs, in a few words: `wasm, N threads` / `wasm, 1 thread (page not cross-origin
 * isolated)` / `gpu.js, webgl2` / `reference loops`.
 */
export function backendMode(): string {
  const backend = getBackend();
  if (backend === 'wasm') return `wasm, ${wasmThreadReport().text}`;
  if (backend === 'gpu') return `gpu.js, ${gpuMode()}`;
  return 'reference loops';
}

export { wasmThreadReport };

/** Waits (up to 10 s) until the wasm backend's Web Workers are ready where the page can have them; resolves to the thread count. */
export function wasmWorkersReady(): Promise<number> {
  return whenWasmWorkersReady();
}

/** Fills a `<select>` with the backends this browser has and switches to the chosen one; returns the active backend's description. */
export function setupBackendPicker(select: HTMLSelectElement, onChange: () => void): string {
  select.innerHTML = '';
  for (const name of availableBackends()) {
    const option = document.createElement('option');
    option.value = name;
    option.textContent = name;
    select.appendChild(option);
  }
  select.value = availableBackends().includes('wasm') ? 'wasm' : 'reference';
  setBackend(select.value as BackendName);
  select.addEventListener('change', () => {
    setBackend(select.value as BackendName);
    onChange();
  });
  return describeBackend();
}

/** A model and its class names read from the bytes of a weights file written by `saveWeights`. */
export function modelFromBytes(bytes: Uint8Array, source: string): { model: MaskRCNN; classes: string[] } {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const configText = metadata?.[WEIGHTS_CONFIG_KEY];
  if (configText === undefined) throw new Error(`${source}: no '${WEIGHTS_CONFIG_KEY}' entry: not a weights file written by saveWeights`);
  const config = readConfigJson(JSON.parse(configText));
  const classesText = metadata?.[WEIGHTS_CLASSES_KEY];
  const classes = classesText === undefined ? labelNames(config.numClasses) : checkClassNames(JSON.parse(classesText), config.numClasses, source);
  const model = new MaskRCNN(config, { initialize: false });
  model.loadStateDict(tensors);
  model.eval();
  return { model, classes };
}
