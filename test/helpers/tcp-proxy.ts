/**
 * A TCP proxy for fault tests, put between an NBD client and a server (a node told to
 * advertise the proxy's port as its NBD address): it can slow the client-to-server
 * direction to a byte rate (to hold a copy open long enough to interrupt it) and cut the
 * link (every socket destroyed, new connections refused for a while), as a network
 * outage would. The server-to-client direction is never slowed. And an endpoint that
 * accepts and never answers (startSilentEndpoint).
 */
import net from 'node:net';

export interface TcpProxy {
  /** The port the proxy listens on, at 127.0.0.1. */
  readonly port: number;
  /** Where connections go; set it before the first one arrives (it may change later). */
  target: { host: string; port: number } | null;
  /** Client-to-server bytes per second; null: as fast as the link goes. */
  rateBytesPerSec: number | null;
  /** Client-to-server bytes forwarded so far. */
  readonly bytesForwarded: number;
  /** Connections accepted (refused ones not counted). */
  readonly connections: number;
  /** Destroy every open connection and refuse new ones for `refuseMs`. */
  cut(refuseMs: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let refuseUntil = 0;
  let bytesForwarded = 0;
  let connections = 0;
  const proxy: TcpProxy = {
    port: 0,
    target: null,
    rateBytesPerSec: null,
    get bytesForwarded() {
      return bytesForwarded;
    },
    get connections() {
      return connections;
    },
    cut(refuseMs) {
      refuseUntil = Date.now() + refuseMs;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    async close() {
      proxy.cut(0);
      await new Promise((done) => server.close(done));
    },
  };
  const server = net.createServer((client) => {
    if (Date.now() < refuseUntil || !proxy.target) {
      client.destroy();
      return;
    }
    connections++;
    const upstream = net.connect(proxy.target.port, proxy.target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      bytesForwarded += chunk.length;
      const more = upstream.write(chunk);
      const rate = proxy.rateBytesPerSec;
      if (rate) {
        client.pause();
        setTimeout(() => client.resume(), (chunk.length / rate) * 1000);
      } else if (!more) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  (proxy as { port: number }).port = (server.address() as net.AddressInfo).port;
  return proxy;
}

/** An endpoint that accepts connections and never says a word: a firewall that drops, a hung gateway. */
export async function startSilentEndpoint(): Promise<{ port: number; close(): Promise<void> }> {
  const held = new Set<net.Socket>();
  const server = net.createServer((s) => {
    held.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const s of held) s.destroy();
      await new Promise((done) => server.close(done));
    },
  };
}
