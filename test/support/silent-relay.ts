/**
 * A TCP relay to a local port whose cut loses everything silently, as a cut network does: while
 * cut, nothing crosses, new connections are refused, and a side that closes its socket sends no
 * FIN or RST to the other. After the heal, new connections relay again; the ones the cut caught
 * stay dead, each side holding a socket its peer has forgotten (a half-open TCP connection).
 */
import net from 'node:net';

export interface SilentRelay {
  port: number;
  cut(): void;
  heal(): void;
  close(): void;
}

export async function silentRelay(targetPort: number): Promise<SilentRelay> {
  let cut = false;
  const sockets = new Set<net.Socket>();
  const catchers = new Set<() => void>();
  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    let caught = false;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
    }
    catchers.add(() => {
      caught = true;
    });
    client.on('data', (data) => {
      if (!caught) upstream.write(data);
    });
    upstream.on('data', (data) => {
      if (!caught) client.write(data);
    });
    const closeBoth = () => {
      if (caught) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    cut: () => {
      cut = true;
      for (const catchOne of catchers) catchOne();
      catchers.clear();
    },
    heal: () => {
      cut = false;
    },
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
