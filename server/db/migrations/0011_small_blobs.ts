/**
 * Small blobs (outputs that came inside result frames, ≤ 32 KiB) keep their bytes in their row:
 * one insert for a batch's outputs instead of a file each, fsynced one by one (~3 ms a file
 * here: 43 results a batch spent 133 ms writing them, capping a coordinator near 320 units/s).
 * Their bytes are then exactly as durable as the verdicts that name them.
 */
export const up = /* sql */ `
alter table blobs add column data bytea;
`;
