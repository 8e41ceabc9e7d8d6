#!/usr/bin/env node
// The package's `kycert-queue` bin: loads tsx so the TypeScript CLI runs from any working directory.
// Run through npx / npm run, `node` is the Node.js 24 of the `node` devDependency.
import { register } from 'tsx/esm/api';

register();
const { runCli, processIo } = await import('./cli.ts');
process.exitCode = await runCli(process.argv.slice(2), processIo());
