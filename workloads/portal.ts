import { matmulPortal } from './matmul/portal.ts';
import { renderPortal } from './render/portal.ts';
import { framesPortal } from './frames/portal.ts';
import { wgslPortal } from './wgsl/portal.ts';
import { inferPortal, trainPortal } from './train/portal.ts';
import type { PortalWorkload } from './types.ts';

/** The portal halves of the workloads, one line each (pages only: DOM code). */
export const portals: Record<string, PortalWorkload> = Object.fromEntries([matmulPortal, renderPortal, framesPortal, wgslPortal, trainPortal, inferPortal].map((p) => [p.kind, p]));
