import { parseArgs } from 'node:util';
import { startAgent } from './agent/main.ts';
import { loadConfig } from './config.ts';
import { startCoordinator } from './coordinator.ts';
import { ConfigError } from './errors.ts';

const help = `supernet — a volunteer GPU compute network

Usage:
  supernet serve                       start the coordinator (PORT, SUPERNET_DATA, DATABASE_URL, … see README)
  supernet agent --url URL --key KEY   run a headless node on this machine's GPU (WebGPU through Dawn)

Options for agent:
  --url URL     the coordinator (or SUPERNET_URL)          --key KEY   an API key (or SUPERNET_KEY)
  --name NAME   how the node shows in stats                --slots N   leases held at once (default 2)
`;

/** One-line reason, non-zero exit: what scripts rely on. */
function fail(message: string, code = 1): never {
  console.error(`supernet: ${message}`);
  process.exit(code);
}

async function main(argv: string[]) {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') return void console.log(help);
  if (command === 'serve') {
    const coordinator = await startCoordinator(loadConfig());
    const store = coordinator.deps.config.databaseUrl ? 'PostgreSQL' : `PGlite in ${coordinator.deps.config.dataDir}`;
    console.log(`Supernet coordinator on ${coordinator.url} (store: ${store})`);
    const stop = () => void coordinator.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    return;
  }
  if (command === 'agent') {
    const { values } = parseArgs({
      args: rest,
      options: { url: { type: 'string' }, key: { type: 'string' }, name: { type: 'string' }, slots: { type: 'string' } },
    });
    const url = values.url ?? process.env.SUPERNET_URL;
    if (!url) fail('agent needs the coordinator: --url http://host:8787 (or SUPERNET_URL).', 2);
    const slots = values.slots === undefined ? undefined : Number(values.slots);
    if (slots !== undefined && !(Number.isInteger(slots) && slots >= 1 && slots <= 8)) fail('--slots takes a whole number from 1 to 8.', 2);
    const runtime = await startAgent({ url, key: values.key ?? process.env.SUPERNET_KEY, name: values.name, slots });
    const stop = () => {
      runtime.stop();
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    return;
  }
  fail(`unknown command "${command}": run supernet --help.`, 2);
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof ConfigError) fail(err.message, 2);
  fail((err as Error).message);
});
