/**
 * The explorer page (docs/explorer.md): Preact components over convkit's own model builders and
 * analysis, run on the shape-only meta backend in the browser. `npm run build:web` writes
 * dist/web, which `convkit serve` serves and `convkit serve --export` copies.
 */
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig, type Plugin } from 'vite';

const stub = fileURLToPath(new URL('./src/native-stub.ts', import.meta.url));
const fsStub = fileURLToPath(new URL('./src/node-fs-stub.ts', import.meta.url));

/**
 * The native backend loads a Node addon; the page gets a stand-in that says it is unavailable (for
 * the backends and for src/io, whose file reads use the addon). The safetensors reader's file
 * branch (node:fs) gets one too: the page reads fetched bytes.
 */
function withoutNativeBackend(): Plugin {
  return {
    name: 'convkit-without-native-backend',
    enforce: 'pre',
    resolveId(source, importer) {
      if (importer && /[\\/]src[\\/](backend|io)[\\/]/.test(importer) && /(^|\/)native\/index\.js$/.test(source))
        return stub;
      if (importer && /[\\/]src[\\/]io[\\/]byte-source\.ts$/.test(importer) && source === 'node:fs') return fsStub;
      return null;
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [withoutNativeBackend(), preact()],
  // The workers (web/src/rf-worker.ts, the receptive field; web/src/engine-worker.ts, Run it) bundle
  // convkit too: the same stand-ins, and class names kept as in the page.
  worker: {
    format: 'es',
    plugins: () => [withoutNativeBackend()],
    rolldownOptions: { output: { keepNames: true } },
  },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    // Layer types are class names (Module.typeName): minifying must not rename classes.
    rolldownOptions: { output: { keepNames: true } },
  },
});
