import type { PortalHost } from './types.ts';

/** A file input's state: uploading or refused (`why`: why there is no spec yet), or stored. */
export interface Upload {
  name: string;
  sha256?: string;
  why?: string;
}

/**
 * Stores each input's file as a blob as soon as it is chosen (DOM code: portal halves only).
 * The record it returns follows each input: null before a file is chosen, then its Upload;
 * `changed` is called as that moves.
 */
export function uploadOnChange<K extends string>(inputs: Record<K, HTMLInputElement>, page: PortalHost, changed: () => void): Record<K, Upload | null> {
  const files = Object.fromEntries(Object.keys(inputs).map((k) => [k, null])) as Record<K, Upload | null>;
  for (const which of Object.keys(inputs) as K[]) {
    inputs[which].addEventListener('change', async (e) => {
      const file = (e.target as HTMLInputElement).files?.[0];
      files[which] = file ? { name: file.name, why: `${file.name} is uploading…` } : null;
      changed();
      if (!file) return;
      try {
        files[which] = { name: file.name, sha256: (await page.putBlob(new Uint8Array(await file.arrayBuffer()))).sha256 };
      } catch (err) {
        files[which] = { name: file.name, why: `${file.name} could not be uploaded: ${(err as Error).message}` };
      }
      changed();
    });
  }
  return files;
}
