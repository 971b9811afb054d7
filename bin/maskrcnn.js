#!/usr/bin/env node
// The `maskrcnn` executable: registers tsx so that the TypeScript sources run directly.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../lib/maskrcnn/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
