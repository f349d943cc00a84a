/** Stands in for src/backend/native/index.ts in the page: there is no addon in a browser. */
export type NativeBackend = never;

export function loadNativeBackend(): { error: string } {
  return { error: 'the native backend is not available in a browser' };
}

/** The addon alone (src/io/byte-source.ts reads large file ranges with it; the page reads none). */
export function loadNativeAddon(): { error: string } {
  return loadNativeBackend();
}
