import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

function listenable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

/** The kernel's range for the local ports of outgoing connections (Linux; the common default elsewhere). */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux: fall through
  }
  return [32_768, 60_999];
}

/** Ports handed out from here lie between this and the ephemeral range. */
const LOWEST = 10_000;

/**
 * A port on `host` that nothing listens on now, followed by `count - 1` free ports (a broker's
 * client and controller ports). Picked at random below the kernel's ephemeral range: a process
 * killed and restarted on its port (a broker, Postgres, an app) must find it free again, and a
 * port from that range can meanwhile become the local end of any outgoing connection on the
 * machine, which makes the restart fail with EADDRINUSE. Random, so two runs at once do not
 * pick the same one.
 */
export async function freePorts(count = 1, host = '127.0.0.1'): Promise<number> {
  const [ephemeralLow] = ephemeralRange();
  const highest = Math.max(LOWEST + 1_000, ephemeralLow) - count;
  for (let attempt = 0; attempt < 200; attempt++) {
    const first = LOWEST + Math.floor(Math.random() * (highest - LOWEST));
    let free = true;
    for (let port = first; port < first + count && free; port++) free = await listenable(port, host);
    if (free) return first;
  }
  throw new Error(
    `no ${String(count)} consecutive free ports on ${host} between ${String(LOWEST)} and ${String(highest + count)}`,
  );
}
