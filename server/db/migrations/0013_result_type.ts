/**
 * A job's result keeps what its workload said it is (`assemble`: a PNG, a zip, an .npy) from
 * assembly to download: its content type and file extension. Jobs done before keep nulls and
 * download as bytes.
 */
export const up = /* sql */ `
alter table jobs add column result_type text;
alter table jobs add column result_extension text check (result_extension ~ '^[a-z0-9]{1,8}$');
`;
