import { matmulCli } from './matmul/cli.ts';
import { renderCli } from './render/cli.ts';
import { framesCli } from './frames/cli.ts';
import { wgslCli } from './wgsl/cli.ts';
import { inferCli, trainCli } from './train/cli.ts';
import type { CliWorkload } from './types.ts';

/** The CLI halves of the workloads, one line each: `supernet submit KIND` and its options. */
export const clis: Record<string, CliWorkload> = Object.fromEntries([matmulCli, renderCli, framesCli, wgslCli, trainCli, inferCli].map((c) => [c.kind, c]));
