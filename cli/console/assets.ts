import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { ConsoleAsset } from './server.js';

/**
 * Builds the console's page at start, in memory: its TypeScript modules bundled with uPlot by
 * esbuild (already the CDK's bundler), so a fresh clone runs the console after `npm ci` with no
 * build step and no built file in the repository. Takes well under a second.
 */
export async function buildConsoleAssets(): Promise<Record<string, ConsoleAsset>> {
  const here = join(dirname(fileURLToPath(import.meta.url)), 'web');
  const require = createRequire(import.meta.url);
  const result = await build({
    entryPoints: [join(here, 'main.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const js = result.outputFiles[0]?.text;
  if (!js) throw new Error('esbuild produced no bundle for the console');
  const [html, css, uplotCss] = await Promise.all([
    readFile(join(here, 'index.html'), 'utf8'),
    readFile(join(here, 'console.css'), 'utf8'),
    readFile(join(dirname(require.resolve('uplot')), 'uPlot.min.css'), 'utf8'),
  ]);
  return {
    '/': { contentType: 'text/html; charset=utf-8', body: html },
    '/console.js': { contentType: 'text/javascript; charset=utf-8', body: js },
    '/console.css': { contentType: 'text/css; charset=utf-8', body: css },
    '/uplot.css': { contentType: 'text/css; charset=utf-8', body: uplotCss },
    // The browser asks for one; an empty answer keeps a 404 out of its console.
    '/favicon.ico': { contentType: 'image/x-icon', body: '' },
  };
}
