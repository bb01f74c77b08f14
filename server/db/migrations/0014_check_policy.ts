/**
 * The verification policy is named for what it is: 'check' (the workload's cheap check of each
 * result: Freivalds' test for matmul, a re-trace of sampled pixels for a render) or
 * 'replicate'. It was 'freivalds', matmul's check, for every workload.
 */
export const up = /* sql */ `
alter table jobs drop constraint jobs_verification_check;
update jobs set verification = 'check' where verification = 'freivalds';
alter table jobs add constraint jobs_verification_check check (verification in ('check', 'replicate'));
`;
