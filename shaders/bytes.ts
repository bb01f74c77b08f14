/**
 * Bytes in an ArrayBuffer of their own. A Node Buffer's slice() is a view into a shared pool
 * (unlike Uint8Array's), so `.buffer` of it holds other bytes too: never read `.buffer` of bytes
 * that may be a Buffer (the blob store's are) without copying them first, as these do.
 */
export const ownBytes = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes);

/** Little-endian float32 values of the bytes (a copy). */
export const floatsOf = (bytes: Uint8Array): Float32Array<ArrayBuffer> => new Float32Array(ownBytes(bytes).buffer);
