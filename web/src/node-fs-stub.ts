/**
 * Stands in for `node:fs` in src/io/byte-source.ts in the page: the page reads safetensors from
 * bytes it fetched (a Uint8Array), never from a path, so every file function says so.
 */
const noFiles = (): never => {
  throw new Error('there is no file system in a browser: give the bytes (a Uint8Array), not a path');
};

export const openSync = noFiles;
export const fstatSync = noFiles;
export const readSync = noFiles;
export const closeSync = noFiles;
