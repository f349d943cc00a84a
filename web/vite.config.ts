/**
 * The explorer page (docs/explorer.md): Preact components over convkit's own model builders and
 * analysis, run on the shape-only meta backend in the browser. `npm run build:web` writes
 * dist/web, which `convkit serve` serves and `convkit serve --export` copies.
 */
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig, type Plugin } from 'vite';

const stub = fileURLToPath(new URL('./src/native-stub.ts', import.meta.url));

/** The native backend loads a Node addon; the page gets a stand-in that says it is unavailable. */
function withoutNativeBackend(): Plugin {
  return {
    name: 'convkit-without-native-backend',
    enforce: 'pre',
    resolveId(source, importer) {
      if (importer && /[\\/]src[\\/]backend[\\/]/.test(importer) && /(^|\/)native\/index\.js$/.test(source))
        return stub;
      return null;
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [withoutNativeBackend(), preact()],
  // The receptive-field view's worker (web/src/rf-worker.ts) bundles the model builders too: the same stand-in for the addon.
  worker: { format: 'es', plugins: () => [withoutNativeBackend()] },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    // Layer types are class names (Module.typeName): minifying must not rename classes.
    rolldownOptions: { output: { keepNames: true } },
  },
});
