import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CircoloClient, CircoloConnectionError, CircoloError } from "@circolo/sdk";
import { fixture, newCard, newMember, purchase, touchpoint } from "./support.js";

const url = fixture().url;

/** A fetch that lets `hook` see and change each attempt; records the headers sent. */
function spyFetch(hook: (attempt: number, real: () => Promise<Response>) => Promise<Response>) {
  const sent: Headers[] = [];
  const f: typeof fetch = async (input, init) => {
    sent.push(new Headers(init?.headers));
    return hook(sent.length, () => fetch(input, init));
  };
  return { fetch: f, sent };
}

describe("events, wallet, ledger, timeline", () => {
  test("a purchase earns points that the wallet, ledger and timeline show", async () => {
    const pos = touchpoint("store");
    const { id, card } = await newMember(pos);
    const sent = await purchase(id, "42.50", pos);
    assert.equal(sent.status, 201);
    assert.equal(sent.replayed, false);
    assert.match(sent.idempotencyKey!, /^[0-9a-f-]{36}$/);
    assert.equal(sent.data.member_id, id);
    assert.equal(sent.data.points?.available, 42);

    const wallet = await pos.getWallet(id);
    assert.equal(wallet.points?.available, 42);
    const ledger = await pos.getLedger(id, { limit: 10 });
    assert.equal(ledger.items?.[0]?.points, 42);
    assert.equal(ledger.items?.[0]?.kind, "earn");
    const timeline = await pos.getTimeline(id);
    assert.ok((timeline.items?.length ?? 0) >= 2, "enrolment and purchase");

    const found = await pos.lookupMember("card", card);
    assert.equal(found?.id, id);
    assert.equal(await pos.lookupMember("card", newCard()), null);

    // The purchase made the member a buyer (a segment of the program).
    const segments = await pos.getMemberSegments(id);
    assert.deepEqual(segments.segments, [{ id: "buyers", name: "Members who bought", kind: "dynamic" }]);

    // The generic, path-typed request.
    const member = await pos.request("GET", "/v1/members/{id}", { params: { id } });
    assert.equal(member.data.points?.available, 42);
  });
});

describe("idempotent retries", () => {
  test("an answer lost after the server applied the event: the retry reuses the key and is replayed", async () => {
    const { id } = await newMember();
    const spy = spyFetch(async (attempt, real) => {
      const response = await real();
      if (attempt === 1) {
        await response.arrayBuffer();
        throw new TypeError("fetch failed: the connection was reset");
      }
      return response;
    });
    const pos = touchpoint("store", { fetch: spy.fetch, retryDelayMs: 10 });
    const sent = await purchase(id, "10.00", pos);
    assert.equal(spy.sent.length, 2);
    const keys = spy.sent.map((h) => h.get("idempotency-key"));
    assert.ok(keys[0]);
    assert.equal(keys[0], keys[1]);
    assert.equal(sent.idempotencyKey, keys[0]);
    assert.equal(sent.replayed, true);
    assert.equal(sent.status, 200);
    // Applied once.
    assert.equal((await touchpoint().getWallet(id)).points?.available, 10);
    const ledger = await touchpoint().getLedger(id);
    assert.equal(ledger.items?.filter((e) => e.kind === "earn").length, 1);
  });

  test("a 503 is retried after Retry-After with the same key", async () => {
    const { id } = await newMember();
    // The request reaches the server, but a proxy answers 503 in its place.
    const spy = spyFetch(async (attempt, real) => {
      const response = await real();
      if (attempt > 1) return response;
      await response.arrayBuffer();
      return new Response(
        JSON.stringify({ type: "about:blank", title: "Service Unavailable", status: 503, detail: "busy", code: "not_ready" }),
        { status: 503, headers: { "content-type": "application/problem+json", "retry-after": "1" } },
      );
    });
    await purchase(id, "20.00");
    const pos = touchpoint("store", { fetch: spy.fetch, retryDelayMs: 10 });
    const started = Date.now();
    const spent = await pos.spendPoints(id, 5, "coffee");
    assert.ok(Date.now() - started >= 900, "waited for Retry-After: 1");
    assert.equal(spy.sent.length, 2);
    assert.equal(spy.sent[0].get("idempotency-key"), spy.sent[1].get("idempotency-key"));
    assert.equal(spent.replayed, true);
    assert.equal(spent.data.points, -5);
    assert.equal((await touchpoint().getWallet(id)).points?.available, 15);
  });

  test("a given Idempotency-Key replays the first answer", async () => {
    const { id } = await newMember();
    const first = await purchase(id, "7.00");
    const again = await touchpoint().sendEvent(
      { type: "purchase", member: { id }, total: "7.00", currency: "EUR" },
      { idempotencyKey: first.idempotencyKey },
    );
    assert.equal(again.replayed, true);
    assert.equal(again.data.event_id, first.data.event_id);
    const other = await touchpoint()
      .sendEvent({ type: "purchase", member: { id }, total: "8.00", currency: "EUR" }, { idempotencyKey: first.idempotencyKey })
      .catch((e) => e);
    assert.ok(other instanceof CircoloError);
    assert.equal(other.code, "idempotency_conflict");
  });

  test("bounded retries end with a CircoloConnectionError", async () => {
    let attempts = 0;
    const client = new CircoloClient({
      baseUrl: url,
      key: "x".repeat(20),
      retries: 2,
      retryDelayMs: 5,
      fetch: async () => {
        attempts++;
        throw new TypeError("fetch failed");
      },
    });
    await assert.rejects(client.getWallet("mem_x"), CircoloConnectionError);
    assert.equal(attempts, 3);
  });
});

describe("problems", () => {
  test("problem+json becomes a CircoloError with its code, request id and extensions", async () => {
    const { id } = await newMember();
    const error = await touchpoint()
      .spendPoints(id, 1000)
      .catch((e: unknown) => e);
    assert.ok(error instanceof CircoloError);
    assert.equal(error.status, 409);
    assert.equal(error.code, "insufficient_points");
    assert.match(error.requestId ?? "", /.+/);
    assert.equal(error.problem.available, 0);

    const invalid = await touchpoint()
      .sendEvent({ type: "purchase", member: { id }, total: "-1", currency: "EUR" })
      .catch((e: unknown) => e);
    assert.ok(invalid instanceof CircoloError);
    assert.equal(invalid.status, 422);
    assert.equal(invalid.code, "validation_failed");
    assert.ok(invalid.problem.errors?.some((e) => "field" in e && e.field === "total"));

    const unauthenticated = await new CircoloClient({ baseUrl: url, key: "not-a-key-0123456789" })
      .getWallet(id)
      .catch((e: unknown) => e);
    assert.ok(unauthenticated instanceof CircoloError);
    assert.equal(unauthenticated.code, "unauthenticated");
  });
});

describe("member tokens", () => {
  test("a member token reads its own wallet and is refused another member's", async () => {
    const pos = touchpoint("app");
    const me = await newMember(pos);
    const other = await newMember(pos);
    await purchase(me.id, "12.00");
    const minted = await pos.mintMemberToken(me.id, 600);
    assert.equal(minted.member_id, me.id);

    let asked = 0;
    const app = new CircoloClient({ baseUrl: url, token: () => (asked++, minted.token!) });
    assert.equal((await app.getWallet(me.id)).points?.available, 12);
    assert.ok(asked >= 1, "the token function is asked per request");
    const refused = await app.getWallet(other.id).catch((e: unknown) => e);
    assert.ok(refused instanceof CircoloError);
    assert.equal(refused.status, 403);
    assert.equal(refused.code, "forbidden");

    // Sign out everywhere: the member's own token revokes every token of the member.
    await app.revokeMemberTokens(me.id);
    const revoked = await app.getWallet(me.id).catch((e: unknown) => e);
    assert.ok(revoked instanceof CircoloError);
    assert.equal(revoked.status, 401);
    assert.equal(revoked.code, "token_revoked");
  });

  test("a member's referral code brings a friend, and both are rewarded", async () => {
    const appKey = touchpoint("app");
    const me = await newMember(appKey);
    const minted = await appKey.mintMemberToken(me.id);
    const app = new CircoloClient({ baseUrl: url, token: minted.token! });
    const mine = await app.getReferralCode(me.id);
    assert.match(mine.code, /^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    assert.equal(mine.referrals.completed, 0);

    const web = touchpoint("web");
    const joined = await web.sendEvent({
      type: "signup",
      member: { identifier: { type: "email", value: `friend-${Date.now()}@example.com` } },
      enroll: true,
      referral_code: mine.code.toLowerCase(),
    });
    const friend = joined.data.member_id;
    const bought = await web.sendEvent({
      type: "purchase",
      member: { id: friend },
      total: "25.00",
      currency: "EUR",
    });
    const types = bought.data.effects.map((e) => e.type);
    assert.ok(types.includes("referral_completed"), types.join(","));
    assert.equal(bought.data.points.available, 25 + 200);
    const { items } = await app.listReferrals(me.id);
    assert.equal(items.length, 1);
    assert.equal(items[0].state, "completed");
    assert.equal(items[0].role, "referrer");
    assert.equal((await app.getReferralCode(me.id)).referrals.completed, 1);
    assert.equal((await app.getWallet(me.id)).points.available, 500);
  });

  test("the app's link code identifies the member at the till and links a new card", async () => {
    const appKey = touchpoint("app");
    const me = await newMember(appKey);
    const minted = await appKey.mintMemberToken(me.id);
    const app = new CircoloClient({ baseUrl: url, token: minted.token! });
    const { code } = await app.createLinkCode(me.id);
    assert.match(code, /^[2-9A-Z]{4}-[2-9A-Z]{4}$/);

    const till = touchpoint("store");
    const card = newCard();
    const paid = await till.sendEvent({
      type: "purchase",
      member: { link_code: code, identifiers: [{ type: "card", value: card }] },
      total: "10.00",
      currency: "EUR",
    });
    assert.equal(paid.data.member_id, me.id);
    assert.equal((await till.lookupMember("card", card))?.id, me.id);
    const again = await till
      .sendEvent({ type: "purchase", member: { link_code: code }, total: "1.00", currency: "EUR" })
      .catch((e: unknown) => e);
    assert.ok(again instanceof CircoloError);
    assert.equal(again.code, "link_code_used");
  });
});

describe("coupons and rewards", () => {
  test("a welcome code is validated, reserved, redeemed once and rolled back", async () => {
    const pos = touchpoint("store");
    const { id } = await newMember(pos);
    const signup = await pos.sendEvent({ type: "signup", member: { id } });
    const issued = signup.data.effects.find((e) => e.type === "coupon_issued");
    assert.ok(issued?.code, JSON.stringify(signup.data.effects));
    const code = issued.code;

    const tooSmall = await pos.validateCoupon({ code, member: id, total: "10.00" });
    assert.equal(tooSmall.valid, false);
    if (!tooSmall.valid) assert.equal(tooSmall.code, "min_total_not_met");
    const ok = await pos.validateCoupon({ code, member: id, total: "30.00" });
    assert.equal(ok.valid, true);

    const hold = await pos.reserveCoupon({ code, member: id, ttl_seconds: 60 });
    assert.equal(hold.data.code, code);
    const redeemed = await pos.redeemCoupon({ code, member: id, total: "30.00", order_id: "R-1" });
    assert.equal(redeemed.status, 201);
    assert.equal(redeemed.data.discount, "5.00");
    const replay = await pos.redeemCoupon(
      { code, member: id, total: "30.00", order_id: "R-1" },
      { idempotencyKey: redeemed.idempotencyKey },
    );
    assert.equal(replay.replayed, true);
    assert.equal(replay.data.redemption_id, redeemed.data.redemption_id);
    const twice = await pos.redeemCoupon({ code, member: id, total: "30.00" }).catch((e: unknown) => e);
    assert.ok(twice instanceof CircoloError);
    assert.equal(twice.code, "coupon_already_redeemed");

    const back = await pos.rollbackRedemption(redeemed.data.redemption_id!);
    assert.equal(back.data.uses_left, 1);
  });

  test("a reward is claimed with points", async () => {
    const pos = touchpoint("store");
    const { id } = await newMember(pos);
    await purchase(id, "350.00", pos);
    const rewards = await pos.listRewards();
    assert.ok(rewards.items?.some((r) => r.id === "free-coffee" && r.cost === 300));
    const claim = await pos.claimReward("free-coffee", { id });
    assert.equal(claim.data.points_spent, 300);
    assert.equal(claim.data.points?.available, 50);
    assert.match(claim.data.coupon?.code ?? "", /^COFFEE-/);
  });

  test("the till reads the member's offers with their reasons", async () => {
    const pos = touchpoint("store");
    const { id } = await newMember(pos);
    await purchase(id, "250.00", pos);
    const offers = await pos.getOffers(id, { limit: 3, total: "20.00" });
    assert.equal(offers.member_id, id);
    assert.equal(offers.channel, "store");
    assert.deepEqual(offers.items?.[0], {
      kind: "reward",
      id: "free-coffee",
      title: "Free coffee",
      reason: "50 points from Free coffee",
      score: 0.7167,
    });
  });

  test("challenges and the leaderboard answer", async () => {
    const pos = touchpoint("store");
    const { id } = await newMember(pos);
    assert.deepEqual((await pos.getChallenges()).items, []);
    const mine = await pos.getChallenges(id);
    assert.deepEqual(mine.items, []);
    const board = await pos.getLeaderboard({ period: "all", member: id });
    assert.equal(board.member?.member_id, id);
    assert.ok(Array.isArray(board.entries));
  });
});
