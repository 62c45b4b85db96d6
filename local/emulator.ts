import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * Starts moto's server (the embedded AWS emulator) on a free loopback port. Used by `npm start` and by
 * the integration tests' global setup, so both run against the same kind of endpoint.
 */
export interface Emulator {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export const MOTO_MISSING_HELP =
  'moto_server was not found on PATH. Install it with `pip install "moto[server]"`, or point ' +
  'AWS_ENDPOINT_URL at a running emulator (moto_server or LocalStack) and run again.';

export function motoInstalled(): boolean {
  return spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status === 0;
}

/** A free TCP port on 127.0.0.1 (the OS picks it; we release it just before moto binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface StartMotoOptions {
  /** @default 30_000 */
  readonly timeoutMs?: number;
  /**
   * Run moto in its own process group, so a Ctrl-C in the terminal reaches only the caller, which can
   * then stop its consumers while the emulator still answers, and stop the emulator last. Only for a
   * caller that handles SIGINT/SIGTERM itself (`npm start`); otherwise a killed parent would leave
   * moto running.
   * @default false
   */
  readonly ownProcessGroup?: boolean;
  /**
   * The program and its arguments before moto_server's own (`-H … -p …`), for a launcher that patches
   * moto first (test/support/moto_server_item_rollback.py).
   * @default ['moto_server']
   */
  readonly command?: readonly string[];
}

export async function startMoto(options: StartMotoOptions = {}): Promise<Emulator> {
  if (!motoInstalled()) throw new Error(MOTO_MISSING_HELP);
  const port = await freePort();
  // 127.0.0.1, not localhost: the SDK then uses path-style S3 URLs that moto understands.
  const endpoint = `http://127.0.0.1:${port}`;
  const [program = 'moto_server', ...args] = options.command ?? [];
  const child: ChildProcess = spawn(program, [...args, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: 'true' },
    detached: options.ownProcessGroup ?? false,
  });
  // If we exit without calling stop() (a crash, process.exit), the emulator must not outlive us.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      process.off('exit', killOnExit);
      resolve();
    }),
  );

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited (${child.exitCode}): ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not answer on ${endpoint} within the timeout: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    endpoint,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
