/**
 * Not code the worker runs: the worker bundle's second entry point (scripts/buildWorkerBundle.ts), so that
 * esbuild, which puts what two entry points share in a chunk of its own, puts undici beside `index.mjs` instead
 * of inside it. That chunk holds no code of ours, so it ships without a source map, and Node, which reads the
 * map of every module that names one when `--enable-source-maps` is on (and measures the module's lines for
 * it), has half a megabyte less to go through at init. The build removes this entry's own output.
 */
import 'undici';
