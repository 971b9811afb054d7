/**
 * A fuzz child process (started by `ChildPool`): loads the handler module named by its first
 * argument, runs its `setup` once, then runs jobs one at a time and answers each with the error
 * it threw (name and message) or the handler's output problem.
 */
import { pathToFileURL } from 'node:url';
import type { ChildHandler, ChildJob } from './pool.js';

const handlerPath = process.argv[2];
if (handlerPath === undefined) throw new Error('fuzz child: no handler module given');
const send = (m: unknown): void => {
  process.send!(m);
};

let handler: ChildHandler | undefined;
process.on('message', (m: { type: string; init?: unknown; job?: ChildJob }) => {
  void (async () => {
    if (m.type === 'init') {
      try {
        const url = handlerPath.startsWith('file:') ? handlerPath : pathToFileURL(handlerPath).href;
        handler = (await import(url)) as ChildHandler;
        await handler.setup?.(m.init);
        send({ type: 'ready' });
      } catch (error) {
        send({ type: 'setup-failed', message: error instanceof Error ? `${error.message}\n${error.stack}` : String(error) });
      }
      return;
    }
    if (m.type !== 'job' || handler === undefined) return;
    try {
      const outputProblem = await handler.handle(m.job!);
      send({ type: 'result', outputProblem });
    } catch (error) {
      const e = error instanceof Error ? { name: error.name, message: error.message } : { name: typeof error, message: String(error) };
      send({ type: 'result', error: e });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
