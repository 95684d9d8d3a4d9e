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

/**
 * A port on `host` that nothing listens on now, followed by `count - 1` free ports (a broker's
 * client and controller ports). Chosen by the kernel, so two runs at once do not pick the same one.
 */
export async function freePorts(count = 1, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen({ port: 0, host, exclusive: true }, () => {
        const address = server.address();
        server.close(() => {
          if (address && typeof address === 'object') resolve(address.port);
          else reject(new Error('no port'));
        });
      });
    });
    if (first + count - 1 > 65_535) continue;
    let free = true;
    for (let next = first + 1; next < first + count && free; next++) free = await listenable(next, host);
    if (free) return first;
  }
  throw new Error(`no ${count} consecutive free ports on ${host}`);
}
