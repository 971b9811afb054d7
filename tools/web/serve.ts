/**
 * A tiny static file server for the built course site (no npm package, no `npx`): serves a
 * folder over HTTP, by default with the two headers that make a page cross-origin isolated
 * (`Cross-Origin-Opener-Policy: same-origin`, `Cross-Origin-Embedder-Policy: require-corp`), so
 * that `SharedArrayBuffer` exists there and the `wasm` backend runs its GEMM on Web Workers
 * over shared memory (see `lib/ops/wasm/browser_workers.ts`).
 *
 * ```sh
 * node --import tsx tools/web/serve.ts docs/site            # http://127.0.0.1:8080/, isolated
 * node --import tsx tools/web/serve.ts docs/site 9000 --plain  # without the headers: one thread
 * ```
 *
 * The browser tests start it in-process ({@link serveStatic}) on a free port.
 */
import { createServer, type Server } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The headers that make a page cross-origin isolated (`crossOriginIsolated === true` in it). */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.wasm': 'application/wasm',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

/** Options of {@link serveStatic}. */
export interface ServeOptions {
  /** Port to listen on (0: a free one). Default 8080. */
  port?: number;
  /** Address to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Send {@link ISOLATION_HEADERS} (default true). */
  isolated?: boolean;
}

/** A running server and its base URL (`http://host:port/`). */
export interface StaticServer {
  /** The Node server (close it with {@link StaticServer.close}). */
  server: Server;
  /** The base URL, ending in `/`. */
  url: string;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Serves the files under `dir` (GET and HEAD; a folder serves its `index.html`). */
export function serveStatic(dir: string, options: ServeOptions = {}): Promise<StaticServer> {
  const root = resolve(dir);
  const isolated = options.isolated ?? true;
  const server = createServer((req, res) => {
    const headers: Record<string, string> = { 'Cache-Control': 'no-store', ...(isolated ? ISOLATION_HEADERS : {}) };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, headers).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400, headers).end();
      return;
    }
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403, headers).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': String(statSync(file).size) });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : options.port;
      ok({
        server,
        url: `http://${options.host ?? '127.0.0.1'}:${port}/`,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const plain = args.includes('--plain');
  const [dir = 'docs/site', port = '8080'] = args.filter((a) => !a.startsWith('--'));
  // No top-level await: the tests import this file, and their runner loads it as CommonJS.
  void serveStatic(dir, { port: Number(port), isolated: !plain }).then((s) =>
    console.log(`serving ${resolve(dir)} at ${s.url}${plain ? ' (not cross-origin isolated: the wasm backend runs one thread)' : ' (cross-origin isolated: COOP same-origin, COEP require-corp)'}`),
  );
}
