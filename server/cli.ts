import { parseArgs } from 'node:util';
import { devCommands, devHelp, describeFailure } from './cli-dev.ts';
import { ConfigError } from './errors.ts';

// Each command loads only what it needs: the coordinator, the agent (Dawn) and the store are
// imported when their command runs, so the developer's commands start in a fraction of a second.
const adminCommands = new Set(['mint', 'verify-ledger', 'export-ledger', 'ledger-key']);

const help = `supernet — a volunteer GPU compute network

Usage:
  supernet serve                       start the coordinator (PORT, SUPERNET_DATA, DATABASE_URL, … see README)
  supernet agent --url URL --key KEY   run a headless node on this machine's GPU (WebGPU through Dawn)

  supernet mint --to EMAIL|ID --amount CREDITS [--memo TEXT]
                                       admin: mint credits from the treasury into an account
  supernet verify-ledger [--file FILE] [--public-key PEM]…
                                       recompute the transfer chain, check the signed checkpoints
                                       and the balances; exit 0 when whole, 1 with each problem
  supernet export-ledger --out FILE    write every transfer and checkpoint as JSON lines
  supernet ledger-key                  print the public key that signs this coordinator's checkpoints

Options for agent:
  --url URL     the coordinator (or SUPERNET_URL)          --key KEY   an API key (or SUPERNET_KEY)
  --name NAME   how the node shows in stats                --slots N   leases held at once (default 2)
  --ask CREDITS the least credits per GFLOP to work for (default: any)
  --throttle PERCENT  the most of its time the GPU may be busy, 5 to 100 (default 100)
  --schedule WHEN     work only then, in local time: "22:00-07:00", "mon-fri 18:00-08:00, sat-sun"
  --no-p2p            fetch every blob from the coordinator; share none with other nodes (WebRTC)

Admin commands open the store named by DATABASE_URL / SUPERNET_DATA directly. On the embedded
store they need the coordinator stopped (PGlite is one process's database).

${devHelp}
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
    const [{ startCoordinator }, { loadConfig }] = await Promise.all([import('./coordinator.ts'), import('./config.ts')]);
    const coordinator = await startCoordinator(loadConfig());
    const store = coordinator.deps.config.databaseUrl ? 'PostgreSQL' : `PGlite in ${coordinator.deps.config.dataDir}`;
    console.log(`Supernet coordinator on ${coordinator.url} (store: ${store})`);
    // Graceful: no new leases and readiness 503 at once, the results of leases in hand taken for
    // up to SUPERNET_SHUTDOWN_GRACE_MS, then sockets and the store closed. A second signal: at once.
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) process.exit(130);
      stopping = true;
      console.log(`${signal}: leasing nothing more; taking the results in hand (up to ${coordinator.deps.config.shutdownGraceMs / 1000} s), then closing`);
      void coordinator.close().then(() => {
        console.log('stopped');
        process.exit(0);
      });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    return;
  }
  if (command === 'agent') {
    const { values } = parseArgs({
      args: rest,
      options: { url: { type: 'string' }, key: { type: 'string' }, name: { type: 'string' }, slots: { type: 'string' }, ask: { type: 'string' }, throttle: { type: 'string' }, schedule: { type: 'string' }, 'no-p2p': { type: 'boolean' } },
    });
    const throttle = values.throttle === undefined ? undefined : Number(values.throttle);
    if (throttle !== undefined && !(throttle >= 5 && throttle <= 100)) fail('--throttle takes the most percent of its time the GPU may be busy, 5 to 100.', 2);
    const ask = values.ask === undefined ? undefined : Number(values.ask);
    if (ask !== undefined && !(Number.isFinite(ask) && ask >= 0)) fail('--ask takes a number of credits per GFLOP, 0 or more.', 2);
    // --url/--key, else SUPERNET_URL/SUPERNET_KEY, else what `supernet signup` or `login` saved.
    const { credentials, savedCredentials } = await import('./cli-dev.ts');
    if (!values.url && !process.env.SUPERNET_URL && !savedCredentials()) fail('agent needs the coordinator: --url http://host:8787 (or SUPERNET_URL, or sign up first: supernet signup --email …).', 2);
    const { url, key } = credentials(values);
    const slots = values.slots === undefined ? undefined : Number(values.slots);
    if (slots !== undefined && !(Number.isInteger(slots) && slots >= 1 && slots <= 8)) fail('--slots takes a whole number from 1 to 8.', 2);
    const { parseSchedule, ScheduleError } = await import('./agent/schedule.ts');
    let schedule;
    try {
      schedule = values.schedule === undefined ? undefined : parseSchedule(values.schedule);
    } catch (err) {
      if (err instanceof ScheduleError) fail(`--schedule: ${err.message}`, 2);
      throw err;
    }
    const { AgentStartError, startAgent } = await import('./agent/main.ts');
    const runtime = await startAgent({ url, key, name: values.name, slots, ask, schedule, p2p: !values['no-p2p'], throttle: throttle === undefined ? undefined : throttle / 100 }).catch((err) => {
      if (err instanceof AgentStartError) fail(err.message, err.code);
      throw err;
    });
    // The first SIGTERM or Ctrl-C finishes the unit in hand and reports it (a minute at most);
    // a second one leaves at once, and the coordinator gives the unit to another node.
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) process.exit(130);
      stopping = true;
      console.log(`[agent] ${signal}: finishing the unit in hand and reporting it, leasing nothing more (again to leave at once)`);
      const clean = await runtime.drain();
      console.log(`[agent] stopped${clean ? ': every result delivered' : ': a result was not acknowledged in time; its unit goes to another node'}`);
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
    return;
  }
  if (adminCommands.has(command) || command in devCommands) {
    try {
      if (adminCommands.has(command)) await (await import('./cli-admin.ts')).admin[command]!(rest);
      else process.exitCode = await devCommands[command]!(rest);
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message, 2);
      // The URL it tried, for "cannot reach": --url's, else SUPERNET_URL's, else the default.
      const at = rest.indexOf('--url');
      const url = (at >= 0 ? rest[at + 1] : rest.find((a) => a.startsWith('--url='))?.slice(6)) ?? process.env.SUPERNET_URL ?? 'http://localhost:8787';
      const { code, message } = describeFailure(err, url);
      console.error(`supernet: ${message}`);
      process.exitCode = code;
    }
    return;
  }
  fail(`unknown command "${command}": run supernet --help.`, 2);
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof ConfigError) fail(err.message, 2);
  fail((err as Error).message);
});
