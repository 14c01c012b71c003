/**
 * Collectives for data-parallel training.
 *
 * `Collective` is what the trainer needs from a communication library: an in-place sum all-reduce, a broadcast and a
 * barrier. `TcpCollective` is the CPU implementation over a star of TCP connections: rank 0 listens on
 * MASTER_ADDR:MASTER_PORT, every other rank connects to it. An all-reduce sends every rank's buffer to rank 0, which
 * sums them in rank order (own values, then rank 1, 2, ...) and sends the result back, so results are bitwise
 * reproducible from run to run and identical on every rank. A NCCL implementation (CUDA backend) can implement the
 * same interface (its unique id would travel through this TCP rendezvous).
 *
 * Failure handling: every message carries the operation kind, a sequence number and its byte length; a mismatch is an
 * error naming both sides. A peer whose connection closes (process died) fails every pending and later operation at
 * once with "rank R disconnected"; rank 0 then closes all other connections so that every rank fails instead of
 * waiting. An operation that waits longer than `timeoutMs` fails with "timed out".
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { setting } from '../../pipeline/settings.ts';

export type NumArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface Collective {
  readonly rank: number;
  readonly world: number;
  /** element-wise sum over all ranks, in place (result identical on every rank). */
  allReduceSum(buf: Float32Array | Float64Array): Promise<void>;
  /** copies root's buffer into every rank's buffer (same length everywhere). */
  broadcast(buf: NumArray, root?: number): Promise<void>;
  barrier(): Promise<void>;
  close(): Promise<void>;
}

export interface TcpCollectiveOptions {
  rank: number;
  world: number;
  /** rendezvous address of rank 0 (default MASTER_ADDR, else 127.0.0.1). */
  addr?: string;
  /** rendezvous port (default MASTER_PORT, else 29500). */
  port?: number;
  /** how long to wait for all ranks to join (ms, default STEEL_DIST_TIMEOUT seconds, else 300 s). */
  connectTimeoutMs?: number;
  /** how long one operation may wait for a peer (ms, default STEEL_DIST_TIMEOUT seconds, else 600 s). */
  timeoutMs?: number;
}

const MAGIC = 0x5354454c; // 'STEL'
const HDR = 16; // magic u32, kind u32, seq u32, bytes u32
const K_HELLO = 1,
  K_READY = 2,
  K_REDUCE = 3,
  K_RESULT = 4,
  K_BCAST = 5,
  K_BARRIER = 6,
  K_BYE = 7,
  K_ABORT = 8;
const KIND_NAMES: Record<number, string> = {
  1: 'hello',
  2: 'ready',
  3: 'allReduce',
  4: 'allReduce result',
  5: 'broadcast',
  6: 'barrier',
  7: 'bye',
  8: 'abort',
};

interface Msg {
  kind: number;
  seq: number;
  body: Buffer;
}

/** one framed connection with a queue of received messages and waiters. */
class Peer {
  private buf: Buffer = Buffer.alloc(0);
  private chunks: Buffer[] = [];
  private have = 0;
  private need = 0;
  private queue: Msg[] = [];
  private waiter: { resolve: (m: Msg) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;
  failure: Error | null = null;
  graceful = false;

  constructor(
    readonly sock: Socket,
    readonly label: string,
    private onFail: (p: Peer, e: Error) => void,
  ) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      // a peer process that dies resets its connections: report it like a close
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE')
        this.fail(new Error(`${label} disconnected (process died or closed the connection: ${e.code})`));
      else this.fail(new Error(`${label}: connection error: ${e.message}`));
    });
    sock.on('close', () => {
      if (!this.graceful) this.fail(new Error(`${label} disconnected (process died or closed the connection)`));
    });
  }

  private onData(d: Buffer): void {
    // large messages arrive in many chunks: gather them and join once the frame is complete (no quadratic copying)
    this.chunks.push(d);
    this.have += d.length;
    if (this.have < this.need) return;
    this.buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = [];
    this.have = 0;
    this.need = 0;
    while (this.buf.length >= HDR) {
      const magic = this.buf.readUInt32LE(0);
      if (magic !== MAGIC) {
        this.fail(new Error(`${this.label}: bad frame (not a steel collective peer?)`));
        return;
      }
      const n = this.buf.readUInt32LE(12);
      if (this.buf.length < HDR + n) {
        this.need = HDR + n;
        break;
      }
      const m: Msg = {
        kind: this.buf.readUInt32LE(4),
        seq: this.buf.readUInt32LE(8),
        body: Buffer.from(this.buf.subarray(HDR, HDR + n)),
      };
      this.buf = this.buf.subarray(HDR + n);
      if (m.kind === K_BYE) {
        this.graceful = true;
        this.fail(new Error(`${this.label} has left the group (it finished or closed its collective)`));
        continue;
      }
      if (m.kind === K_ABORT) {
        this.graceful = true;
        this.fail(new Error(`collective aborted by rank 0: ${m.body.toString('utf8')}`));
        continue;
      }
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        clearTimeout(w.timer);
        w.resolve(m);
      } else this.queue.push(m);
    }
    if (this.buf.length) {
      this.chunks = [this.buf];
      this.have = this.buf.length;
      if (this.need === 0) this.need = HDR;
    }
    this.buf = Buffer.alloc(0);
  }

  fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      clearTimeout(w.timer);
      w.reject(e);
    }
    this.onFail(this, e);
  }

  send(kind: number, seq: number, body?: Uint8Array, evenIfFailed = false): void {
    if (this.failure && !evenIfFailed) throw this.failure;
    const h = Buffer.alloc(HDR);
    h.writeUInt32LE(MAGIC, 0);
    h.writeUInt32LE(kind, 4);
    h.writeUInt32LE(seq, 8);
    h.writeUInt32LE(body ? body.byteLength : 0, 12);
    this.sock.write(h);
    if (body && body.byteLength) this.sock.write(body);
  }

  recv(timeoutMs: number, what: string): Promise<Msg> {
    if (this.queue.length) return Promise.resolve(this.queue.shift()!);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        const e = new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${this.label} in ${what}`);
        this.fail(e);
        reject(e);
      }, timeoutMs);
      this.waiter = { resolve, reject, timer };
    });
  }
}

function bytesOf(a: NumArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** STEEL_DIST_TIMEOUT (seconds) in milliseconds, if set: how long a rank waits for the others (TCP and NCCL). */
export function distTimeoutMs(): number | undefined {
  const s = setting('distTimeout');
  return s === undefined ? undefined : s * 1000;
}

export class TcpCollective implements Collective {
  readonly rank: number;
  readonly world: number;
  private peers: Peer[] = []; // rank 0: index = peer rank (0 unused); others: [root]
  private server: Server | null = null;
  private seq = 0;
  private timeoutMs: number;
  private firstFailure: Error | null = null;
  private closed = false;

  private constructor(rank: number, world: number, timeoutMs: number) {
    this.rank = rank;
    this.world = world;
    this.timeoutMs = timeoutMs;
  }

  /** joins the group (rank 0 listens and waits for world-1 peers; others connect, retrying until the timeout). */
  static async connect(o: TcpCollectiveOptions): Promise<TcpCollective> {
    const { rank, world } = o;
    if (!Number.isInteger(world) || world < 1)
      throw new Error(`collective: world size must be a positive integer, got ${world}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= world)
      throw new Error(`collective: rank ${rank} outside world ${world}`);
    const addr = o.addr ?? process.env.MASTER_ADDR ?? '127.0.0.1';
    const port = o.port ?? (process.env.MASTER_PORT ? Number(process.env.MASTER_PORT) : 29500);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new Error(`collective: bad port ${port} (MASTER_PORT)`);
    const env = distTimeoutMs();
    const c = new TcpCollective(rank, world, o.timeoutMs ?? env ?? 600_000);
    const joinMs = o.connectTimeoutMs ?? env ?? 300_000;
    if (world === 1) return c;
    if (rank === 0) await c.listen(addr, port, joinMs);
    else await c.join(addr, port, joinMs);
    return c;
  }

  private onPeerFail = (_p: Peer, e: Error): void => {
    if (!this.firstFailure) this.firstFailure = e;
    // rank 0 tears the group down so that every rank fails promptly
    if (this.rank === 0) {
      for (const q of this.peers) {
        if (!q || q.sock.destroyed || q.sock.writableEnded) continue;
        try {
          q.send(K_ABORT, 0, Buffer.from(e.message), true);
        } catch {
          /* gone */
        }
        q.graceful = true;
        q.sock.end();
        q.fail(new Error(`collective aborted: ${e.message}`));
      }
    }
  };

  private listen(addr: string, port: number, joinMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const pending = new Set<Socket>();
      let joined = 0;
      const timer = setTimeout(() => {
        const missing = [];
        for (let r = 1; r < this.world; r++) if (!this.peers[r]) missing.push(r);
        finish(
          new Error(
            `collective: only ${joined + 1} of ${this.world} ranks joined ${addr}:${port} within ${Math.round(joinMs / 1000)} s (missing ranks ${missing.join(', ')})`,
          ),
        );
      }, joinMs);
      const server = createServer((sock) => {
        pending.add(sock);
        let head = Buffer.alloc(0);
        const onData = (d: Buffer) => {
          head = Buffer.concat([head, d]);
          if (head.length < HDR + 8) return;
          sock.off('data', onData);
          pending.delete(sock);
          const ok = head.readUInt32LE(0) === MAGIC && head.readUInt32LE(4) === K_HELLO;
          const r = head.readUInt32LE(HDR),
            w = head.readUInt32LE(HDR + 4);
          if (!ok) {
            sock.destroy();
            return;
          }
          if (w !== this.world) {
            finish(new Error(`collective: rank ${r} says the world size is ${w}, rank 0 has ${this.world}`));
            return;
          }
          if (r < 1 || r >= this.world || this.peers[r]) {
            finish(new Error(`collective: rank ${r} joined twice or is out of range (world ${this.world})`));
            return;
          }
          const p = new Peer(sock, `rank ${r}`, this.onPeerFail);
          this.peers[r] = p;
          const rest = head.subarray(HDR + 8);
          if (rest.length) sock.emit('data', rest);
          if (++joined === this.world - 1) {
            for (let q = 1; q < this.world; q++) this.peers[q].send(K_READY, 0);
            finish(null);
          }
        };
        sock.on('data', onData);
        sock.on('error', () => {});
      });
      let done = false;
      const finish = (e: Error | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        server.close();
        if (e) {
          for (const s of pending) s.destroy();
          for (const p of this.peers)
            if (p) {
              p.graceful = true;
              p.sock.destroy();
            }
          reject(e);
        } else resolve();
      };
      server.on('error', (e) => finish(new Error(`collective: rank 0 cannot listen on ${addr}:${port}: ${e.message}`)));
      server.listen(port, addr);
      this.server = server;
    });
  }

  private async join(addr: string, port: number, joinMs: number): Promise<void> {
    const deadline = Date.now() + joinMs;
    let lastErr = '';
    for (;;) {
      const sock = await new Promise<Socket | null>((resolve) => {
        const s = connect(port, addr);
        s.once('connect', () => {
          s.removeAllListeners('error');
          resolve(s);
        });
        s.once('error', (e) => {
          lastErr = e.message;
          s.destroy();
          resolve(null);
        });
      });
      if (sock) {
        const p = new Peer(sock, 'rank 0', this.onPeerFail);
        const hello = new Uint8Array(8);
        new DataView(hello.buffer).setUint32(0, this.rank, true);
        new DataView(hello.buffer).setUint32(4, this.world, true);
        p.send(K_HELLO, 0, hello);
        const left = Math.max(1000, deadline - Date.now());
        const m = await p.recv(left, 'the rendezvous').catch((e: Error) => {
          throw new Error(
            `collective: rank ${this.rank} joined ${addr}:${port} but the group did not form: ${e.message}`,
          );
        });
        if (m.kind !== K_READY)
          throw new Error(`collective: unexpected ${KIND_NAMES[m.kind] ?? m.kind} during the rendezvous`);
        this.peers = [p];
        return;
      }
      if (Date.now() > deadline)
        throw new Error(
          `collective: rank ${this.rank} could not reach rank 0 at ${addr}:${port} within ${Math.round(joinMs / 1000)} s (${lastErr})`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private check(): void {
    if (this.closed) throw new Error('collective: used after close()');
    if (this.firstFailure) throw this.firstFailure;
  }

  private async expect(p: Peer, kind: number, seq: number, bytes: number, what: string): Promise<Buffer> {
    const m = await p.recv(this.timeoutMs, what);
    if (m.kind !== kind || m.seq !== seq || m.body.length !== bytes) {
      const e = new Error(
        `collective mismatch: ${p.label} sent ${KIND_NAMES[m.kind] ?? m.kind} #${m.seq} (${m.body.length} bytes), rank ${this.rank} expected ${KIND_NAMES[kind]} #${seq} (${bytes} bytes): the ranks are not running the same program/configuration`,
      );
      p.fail(e);
      throw e;
    }
    return m.body;
  }

  async allReduceSum(buf: Float32Array | Float64Array): Promise<void> {
    this.check();
    if (this.world === 1) return;
    const seq = ++this.seq,
      nb = buf.byteLength,
      what = `allReduce #${seq}`;
    if (this.rank === 0) {
      for (let r = 1; r < this.world; r++) {
        const body = await this.expect(this.peers[r], K_REDUCE, seq, nb, what);
        // copy out (alignment) and add in rank order
        const other =
          buf instanceof Float64Array
            ? new Float64Array(new Uint8Array(body).buffer)
            : new Float32Array(new Uint8Array(body).buffer);
        for (let i = 0; i < buf.length; i++) buf[i] += other[i];
      }
      const out = bytesOf(buf);
      for (let r = 1; r < this.world; r++) this.peers[r].send(K_RESULT, seq, out);
    } else {
      const root = this.peers[0];
      root.send(K_REDUCE, seq, bytesOf(buf));
      const body = await this.expect(root, K_RESULT, seq, nb, what);
      bytesOf(buf).set(body);
    }
  }

  async broadcast(buf: NumArray, root = 0): Promise<void> {
    this.check();
    if (this.world === 1) return;
    if (root < 0 || root >= this.world)
      throw new Error(`collective: broadcast root ${root} outside world ${this.world}`);
    const seq = ++this.seq,
      nb = buf.byteLength,
      what = `broadcast #${seq}`;
    if (this.rank === 0) {
      if (root !== 0) bytesOf(buf).set(await this.expect(this.peers[root], K_BCAST, seq, nb, what));
      for (let r = 1; r < this.world; r++) if (r !== root) this.peers[r].send(K_BCAST, seq, bytesOf(buf));
    } else if (this.rank === root) {
      this.peers[0].send(K_BCAST, seq, bytesOf(buf));
    } else {
      bytesOf(buf).set(await this.expect(this.peers[0], K_BCAST, seq, nb, what));
    }
  }

  async barrier(): Promise<void> {
    this.check();
    if (this.world === 1) return;
    const seq = ++this.seq,
      what = `barrier #${seq}`;
    if (this.rank === 0) {
      for (let r = 1; r < this.world; r++) await this.expect(this.peers[r], K_BARRIER, seq, 0, what);
      for (let r = 1; r < this.world; r++) this.peers[r].send(K_BARRIER, seq);
    } else {
      this.peers[0].send(K_BARRIER, seq);
      await this.expect(this.peers[0], K_BARRIER, seq, 0, what);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.peers) {
      if (!p || p.failure) continue;
      try {
        p.send(K_BYE, 0);
      } catch {
        /* already gone */
      }
      p.graceful = true;
      await new Promise<void>((r) => p.sock.end(() => r()));
      p.sock.destroy();
    }
    this.server?.close();
  }
}

/** rank and world size: explicit values, else RANK/WORLD_SIZE, else Slurm's SLURM_PROCID/SLURM_NTASKS, else 0/1. */
export function resolveRankWorld(
  o: { rank?: number; world?: number } = {},
  env: NodeJS.ProcessEnv = process.env,
): { rank: number; world: number; localRank: number; source: string } {
  const int = (name: string, s: string | undefined): number | undefined => {
    if (s === undefined || s === '') return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: not a non-negative integer: ${s}`);
    return n;
  };
  let rank: number | undefined,
    world: number | undefined,
    source = 'default',
    localRank: number | undefined;
  if (o.rank !== undefined || o.world !== undefined) {
    rank = o.rank ?? 0;
    world = o.world ?? 1;
    source = '--rank/--world';
  } else if (env.WORLD_SIZE !== undefined || env.RANK !== undefined) {
    rank = int('RANK', env.RANK) ?? 0;
    world = int('WORLD_SIZE', env.WORLD_SIZE) ?? 1;
    localRank = int('LOCAL_RANK', env.LOCAL_RANK);
    source = 'RANK/WORLD_SIZE';
  } else if (env.SLURM_NTASKS !== undefined && env.SLURM_PROCID !== undefined) {
    rank = int('SLURM_PROCID', env.SLURM_PROCID)!;
    world = int('SLURM_NTASKS', env.SLURM_NTASKS)!;
    localRank = int('SLURM_LOCALID', env.SLURM_LOCALID);
    source = 'Slurm';
  } else {
    rank = 0;
    world = 1;
  }
  if (!Number.isInteger(world) || world < 1) throw new Error(`world size must be >= 1 (from ${source}), got ${world}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= world)
    throw new Error(`rank ${rank} outside world ${world} (from ${source})`);
  return { rank, world, localRank: localRank ?? rank, source };
}
