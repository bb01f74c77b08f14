// Node module hook: `import src from './x.wgsl?raw'` yields the file's text.
import { readFile } from 'node:fs/promises';

export async function load(url, context, nextLoad) {
  const u = new URL(url);
  if (u.protocol === 'file:' && u.pathname.endsWith('.wgsl') && u.search === '?raw') {
    const text = await readFile(u, 'utf8');
    return { format: 'module', shortCircuit: true, source: `export default ${JSON.stringify(text)};` };
  }
  return nextLoad(url, context);
}
