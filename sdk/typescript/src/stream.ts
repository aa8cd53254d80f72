// Outgoing events: a WebSocket stream that survives disconnections (GET /v1/stream), and a pager
// over the polling feed (GET /v1/feed). Both resume by `seq`: the server gives seqs in commit
// order, so "every event after the last seq I handled" loses nothing and repeats nothing.
import type { CircoloClient } from "./client.js";
import { CircoloError } from "./errors.js";
import type { FeedEvent } from "./types.js";

/** The part of the WebSocket API used here: browsers', Node's global one and `ws` all fit. */
// Handlers take `any`: each implementation has its own event classes.
export interface WebSocketLike {
  onopen: ((event: any) => void) | null; // eslint-disable-line @typescript-eslint/no-explicit-any
  onmessage: ((event: any) => void) | null; // eslint-disable-line @typescript-eslint/no-explicit-any
  onclose: ((event: any) => void) | null; // eslint-disable-line @typescript-eslint/no-explicit-any
  onerror: ((event: any) => void) | null; // eslint-disable-line @typescript-eslint/no-explicit-any
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface StreamOptions {
  /** Called for each event once, in seq order. */
  onEvent: (event: FeedEvent) => void;
  /** The stream gave up: the server refused it (401, 403, 400, 410 cursor_expired). */
  onError?: (error: Error) => void;
  /** Each (re)connection; `after` is the seq it resumes from. */
  onOpen?: (after: number) => void;
  /** Resume after this seq. Default: from now (the current last seq, read from the feed). */
  after?: number;
  /** Only these event types (`points.earned`, `coupon.issued`...). */
  types?: readonly string[];
  /** Only this member's events (a member token always gets only its own). */
  member?: string;
  /** Default `globalThis.WebSocket` (in Node 20: `ws`'s WebSocket, or run with --experimental-websocket). */
  WebSocket?: WebSocketConstructor;
  /** Reconnection backoff: from `minBackoffMs` (500) doubling to `maxBackoffMs` (30 000), with jitter. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * A live stream of outgoing events. It reconnects after any disconnection (a server restart, a
 * load balancer's timeout, a close for being too slow) and resumes after the last seq it
 * delivered, so the handler sees every event exactly once. `close()` ends it.
 */
export class EventStream {
  private readonly client: CircoloClient;
  private readonly options: StreamOptions;
  private readonly WebSocketImpl: WebSocketConstructor;
  private socket: WebSocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private closed = false;
  private seq: number | undefined;

  constructor(client: CircoloClient, options: StreamOptions) {
    this.client = client;
    this.options = options;
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!impl) throw new TypeError("no WebSocket: pass options.WebSocket (e.g. the `ws` package)");
    this.WebSocketImpl = impl;
    this.seq = options.after;
    void this.connect();
  }

  /** The seq of the last event delivered (where the next connection resumes). */
  get lastSeq(): number | undefined {
    return this.seq;
  }

  /** Stops the stream: no more events, no reconnection. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.close(1000, "closed by the client");
    this.socket = null;
  }

  /** Drops the current connection as a network failure would (the stream reconnects). */
  reconnect(): void {
    this.socket?.close(4000, "reconnecting");
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    try {
      // "From now" must be a seq: a reconnection without one would skip what came in between.
      if (this.seq === undefined) this.seq = await this.currentSeq();
      const url = new URL(`${this.client.baseUrl}/v1/stream`);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      url.searchParams.set("after", String(this.seq));
      if (this.options.types?.length) url.searchParams.set("types", this.options.types.join(","));
      if (this.options.member) url.searchParams.set("member", this.options.member);
      // Browsers cannot send headers on a WebSocket: the server takes the credential here too.
      const credential = await this.client.credential();
      if (credential) url.searchParams.set("access_token", credential);
      if (this.closed) return;
      this.open(url.toString());
    } catch (error) {
      this.failed(error);
    }
  }

  private open(url: string): void {
    const socket = new this.WebSocketImpl(url);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.failures = 0;
      this.options.onOpen?.(this.seq ?? 0);
    };
    socket.onmessage = (message: { data: unknown }) => {
      if (socket !== this.socket) return;
      const text =
        typeof message.data === "string" ? message.data : new TextDecoder().decode(message.data as ArrayBuffer);
      const event = JSON.parse(text) as FeedEvent;
      // A backlog after a reconnection starts after `seq`; anything not newer is a repeat.
      if (this.seq !== undefined && event.seq <= this.seq) return;
      this.seq = event.seq;
      this.options.onEvent(event);
    };
    socket.onerror = () => {}; // onclose follows and decides
    socket.onclose = () => {
      if (socket !== this.socket || this.closed) return;
      this.socket = null;
      if (opened) this.schedule();
      else void this.diagnose();
    };
  }

  // An upgrade refused with 401/403/400/410 looks like any failed connection through the
  // WebSocket API: the same query over HTTP tells a refusal (fatal) from an outage (retry).
  private async diagnose(): Promise<void> {
    try {
      await this.client.listFeed({
        after: this.seq,
        limit: 1,
        member: this.options.member,
        types: this.options.types,
      });
      this.schedule();
    } catch (error) {
      this.failed(error);
    }
  }

  private async currentSeq(): Promise<number> {
    // Every feed page answers the newest published seq (a cursor beyond it is refused).
    const page = await this.client.listFeed({ limit: 1 });
    return page.last_seq;
  }

  private failed(error: unknown): void {
    if (this.closed) return;
    if (error instanceof CircoloError && error.status >= 400 && error.status < 500) {
      this.closed = true;
      this.options.onError?.(error);
      return;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    const min = this.options.minBackoffMs ?? 500;
    const max = this.options.maxBackoffMs ?? 30_000;
    const wait = Math.min(max, min * 2 ** this.failures++) * (0.75 + Math.random() * 0.5);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, wait);
  }
}

export interface FeedQuery {
  /** Start after this seq (default: the oldest event kept). */
  after?: number;
  /** Page size, 1–1000 (default 100). */
  limit?: number;
  member?: string;
  types?: readonly string[];
}

/**
 * Every outgoing event after `after` up to now, page by page, in seq order; ends when caught up.
 * Keep the last `seq` handled and pass it as `after` next time.
 */
export async function* feedEvents(
  client: CircoloClient,
  query: FeedQuery = {},
): AsyncGenerator<FeedEvent, void, undefined> {
  let after = query.after;
  const limit = query.limit ?? 100;
  for (;;) {
    const page = await client.listFeed({ ...query, after, limit });
    yield* page.items;
    if (page.items.length < limit) return;
    after = page.next_after;
  }
}
