import assert from "node:assert/strict";
import { createServer, Socket, type AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { CircoloClient, CircoloError, EventStream, feedEvents, type FeedEvent } from "@circolo/sdk";
import { eventually, fixture, newMember, purchase, touchpoint } from "./support.js";

// A TCP proxy in front of circolod whose connections the test can cut, as a network failure or
// a restarting load balancer would.
function cuttableProxy(target: URL) {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = new Socket().connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  return {
    server,
    cut: () => sockets.forEach((s) => s.destroy()),
    url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  };
}

describe("EventStream", () => {
  const proxy = cuttableProxy(new URL(fixture().url));
  before(() => new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve)));
  after(() => {
    proxy.cut();
    proxy.server.close();
  });

  test("delivers live events and resumes after lost connections without gaps or repeats", async () => {
    const { id } = await newMember();
    const client = new CircoloClient({ baseUrl: proxy.url(), key: fixture().keys.store });
    const received: FeedEvent[] = [];
    const opens: number[] = [];
    const stream = new EventStream(client, {
      WebSocket: WebSocket as never,
      member: id,
      types: ["points.earned"],
      minBackoffMs: 300,
      onEvent: (e) => received.push(e),
      onOpen: (from) => opens.push(from),
      onError: (e) => assert.fail(e),
    });
    try {
      await eventually(() => opens.length === 1, 10_000, "the first connection");
      const startSeq = opens[0];
      for (const total of ["1.00", "2.00", "3.00"]) await purchase(id, total);
      await eventually(() => received.length === 3, 10_000, "3 live events");

      // Cut the connection, and buy while the stream is away: the backlog brings those.
      proxy.cut();
      for (const total of ["4.00", "5.00"]) await purchase(id, total);
      await eventually(() => opens.length === 2, 10_000, "a reconnection");
      assert.equal(opens[1], received[2].seq, "resumed after the last seq delivered");
      await eventually(() => received.length === 5, 10_000, "the backlog");

      // The client drops its own connection: the same again.
      stream.reconnect();
      await purchase(id, "6.00");
      await eventually(() => opens.length === 3, 10_000, "a second reconnection");
      await purchase(id, "7.00");
      await eventually(() => received.length === 7, 10_000, "all 7 events");
      await new Promise((resolve) => setTimeout(resolve, 300)); // nothing more comes

      assert.deepEqual(
        received.map((e) => e.data.points),
        [1, 2, 3, 4, 5, 6, 7],
      );
      const seqs = received.map((e) => e.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
      assert.equal(new Set(received.map((e) => e.id)).size, 7);
      assert.equal(stream.lastSeq, seqs[6]);

      // The feed pager reads the same events, page by page.
      const paged: FeedEvent[] = [];
      for await (const e of feedEvents(touchpoint(), { after: startSeq, member: id, types: ["points.earned"], limit: 2 }))
        paged.push(e);
      assert.deepEqual(paged.map((e) => e.id), received.map((e) => e.id));
    } finally {
      stream.close();
    }
    const count = received.length;
    await purchase(id, "8.00");
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(received.length, count, "nothing after close");
  });

  test("a refused stream reports the server's problem and stops", async () => {
    const pos = touchpoint("app");
    const me = await newMember(pos);
    const other = await newMember(pos);
    const { token } = await pos.mintMemberToken(me.id);
    const app = new CircoloClient({ baseUrl: fixture().url, token: token! });
    const error = await new Promise<Error>((resolve) => {
      new EventStream(app, { WebSocket: WebSocket as never, member: other.id, after: 0, onEvent: () => {}, onError: resolve });
    });
    assert.ok(error instanceof CircoloError);
    assert.equal(error.status, 403);

    const bad = new CircoloClient({ baseUrl: fixture().url, key: "not-a-key-0123456789" });
    const unauthenticated = await new Promise<Error>((resolve) => {
      new EventStream(bad, { WebSocket: WebSocket as never, after: 0, onEvent: () => {}, onError: resolve });
    });
    assert.ok(unauthenticated instanceof CircoloError);
    assert.equal(unauthenticated.code, "unauthenticated");
  });

  test("a member token follows its own member's events", async () => {
    const pos = touchpoint("app");
    const me = await newMember(pos);
    const { token } = await pos.mintMemberToken(me.id);
    const app = new CircoloClient({ baseUrl: fixture().url, token: token! });
    const received: FeedEvent[] = [];
    let opened = false;
    const stream = new EventStream(app, {
      WebSocket: WebSocket as never,
      onEvent: (e) => received.push(e),
      onOpen: () => (opened = true),
    });
    try {
      await eventually(() => opened, 10_000, "the connection");
      await purchase((await newMember()).id, "9.00"); // another member: not seen
      await purchase(me.id, "11.00");
      await eventually(() => received.length >= 1, 10_000, "the member's event");
      assert.ok(received.every((e) => e.member_id === me.id));
    } finally {
      stream.close();
    }
  });
});
