import { matmulPortal } from './matmul/portal.ts';
import { renderPortal } from './render/portal.ts';
import { framesPortal } from './frames/portal.ts';
import { wgslPortal } from './wgsl/portal.ts';
import { trainPortal } from './train/portal.ts';
import type { PortalWorkload } from './types.ts';

/** The portal halves of the workloads, one line each (pages only: DOM code). */
export const portals: Record<string, PortalWorkload> = Object.fromEntries([matmulPortal, renderPortal, framesPortal, wgslPortal, trainPortal].map((p) => [p.kind, p]));
