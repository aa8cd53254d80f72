import { CircoloConnectionError, errorFromResponse } from "./errors.js";
import type {
  Challenge,
  CouponValidation,
  FeedPage,
  Leaderboard,
  Method,
  Page,
  Path,
  QueryOf,
  Redemption,
  RequestBody,
  Reservation,
  ResponseBody,
  Reward,
  RewardClaim,
  RolledBackRedemption,
} from "./types.js";

export interface ClientOptions {
  /** Where circolod listens, e.g. `https://loyalty.example.com`. */
  baseUrl: string;
  /** An API key (admin or touchpoint): for servers, POS back offices. */
  key?: string;
  /**
   * A member token (minted by your backend with `mintMemberToken`): for apps in the member's
   * hands. A function is asked before every request, so an app can refresh an expiring token.
   */
  token?: string | (() => string | Promise<string>);
  /** A fetch implementation; default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Retries after a network error, a timeout or a 503 (default 3). */
  retries?: number;
  /** First backoff (default 250 ms), doubled per retry with jitter, at most `maxRetryDelayMs`. */
  retryDelayMs?: number;
  /** Upper bound of one wait, also of a server's `Retry-After` (default 10 s). */
  maxRetryDelayMs?: number;
  /** One attempt's time limit (default 30 s); a timed-out attempt is retried like a lost one. */
  timeoutMs?: number;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

export interface CallOptions {
  /**
   * For mutating calls: the key that makes a retry safe. Default: a new UUID per call, reused
   * by this call's own retries. Pass your own (an order id) to make retries across app restarts
   * safe too.
   */
  idempotencyKey?: string;
  /** Cancels the call (and its retries). */
  signal?: AbortSignal;
  /** Sent as `X-Request-Id`, to find the request in the server's logs. */
  requestId?: string;
}

type QueryValue = string | number | boolean | null | undefined | readonly string[];

export interface RequestOptions<B = unknown, Q = Record<string, QueryValue>> extends CallOptions {
  /** Values of the `{name}` parts of the path. */
  params?: Record<string, string | number>;
  query?: Q;
  body?: B;
  headers?: Record<string, string>;
}

/** A 2xx answer with what a caller may need beyond its body. */
export interface Result<T> {
  data: T;
  status: number;
  headers: Headers;
  /** True when the server replayed the stored answer of an earlier request with the same key. */
  replayed: boolean;
  /** The Idempotency-Key sent (mutating calls), to keep for a later retry. */
  idempotencyKey: string | undefined;
  requestId: string | null;
}

/** A member given by id, or by one of its identifiers. */
export type MemberRef = string | { id: string } | { identifier: { type: string; value: string } };

type HttpMethod = Uppercase<Method>;
type Body<P extends Path, M extends Method> = RequestBody<P, M>;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** Seconds or an HTTP date, as RFC 9110 allows; null when absent or unreadable. */
function retryAfterMs(value: string | null): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

function appendQuery(url: URL, query: Record<string, QueryValue> | undefined) {
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null) continue;
    // The server takes lists comma-separated (`types=a,b`) and refuses a repeated parameter.
    url.searchParams.set(name, Array.isArray(value) ? value.join(",") : String(value));
  }
}

/**
 * A client of circolod's HTTP API. Safe to share: it keeps no state between calls.
 *
 * Mutating calls carry an `Idempotency-Key` (a new UUID per call unless given) and are retried
 * with that same key after a network error, a timeout or a 503: the server applies the request
 * once and answers a retry with the stored answer (`replayed: true`).
 */
export class CircoloClient {
  readonly baseUrl: string;
  private readonly options: ClientOptions;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions) {
    if (!options.baseUrl) throw new TypeError("baseUrl is required");
    this.options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    const f = options.fetch ?? globalThis.fetch;
    if (!f) throw new TypeError("no fetch: pass options.fetch");
    this.fetchImpl = f.bind(globalThis);
  }

  /** The bearer credential for the next request (the stream client uses it too). */
  async credential(): Promise<string | undefined> {
    const { key, token } = this.options;
    if (key) return key;
    return typeof token === "function" ? await token() : token;
  }

  /**
   * Any endpoint of docs/openapi.yaml, typed by its path and method:
   * `request("GET", "/v1/members/{id}", { params: { id } })`.
   */
  async request<P extends Path, M extends HttpMethod>(
    method: M,
    path: P,
    options: RequestOptions<Body<P, Lowercase<M> & Method>, QueryOf<P, Lowercase<M> & Method>> = {},
  ): Promise<Result<ResponseBody<P, Lowercase<M> & Method>>> {
    return this.send(method, path, options as RequestOptions);
  }

  private async send<T>(method: string, path: string, options: RequestOptions): Promise<Result<T>> {
    const url = new URL(
      this.baseUrl +
        path.replace(/\{(\w+)\}/g, (_, name: string) => {
          const value = options.params?.[name];
          if (value === undefined) throw new TypeError(`missing path parameter ${name}`);
          return encodeURIComponent(String(value));
        }),
    );
    appendQuery(url, options.query as Record<string, QueryValue> | undefined);
    const mutating = method !== "GET" && method !== "HEAD";
    const idempotencyKey = mutating ? (options.idempotencyKey ?? crypto.randomUUID()) : undefined;
    const headers: Record<string, string> = {
      accept: "application/json, application/problem+json",
      ...this.options.headers,
      ...options.headers,
    };
    const credential = await this.credential();
    if (credential) headers.authorization = `Bearer ${credential}`;
    if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
    if (options.requestId) headers["x-request-id"] = options.requestId;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }

    const retries = this.options.retries ?? 3;
    const base = this.options.retryDelayMs ?? 250;
    const cap = this.options.maxRetryDelayMs ?? 10_000;
    for (let attempt = 0; ; attempt++) {
      const backoff = Math.min(cap, base * 2 ** attempt) * (0.75 + Math.random() * 0.5);
      let response: Response;
      try {
        const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 30_000);
        const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
        response = await this.fetchImpl(url, { method, headers, body, signal });
      } catch (error) {
        // The caller's own abort ends the call; anything else may be a lost answer: retry.
        if (options.signal?.aborted) throw options.signal.reason;
        if (attempt >= retries)
          throw new CircoloConnectionError(`${method} ${url.pathname}: ${String(error)}`, {
            cause: error,
          });
        await sleep(backoff, options.signal);
        continue;
      }
      if (response.status === 503 && attempt < retries) {
        await response.body?.cancel();
        const wait = retryAfterMs(response.headers.get("retry-after"));
        await sleep(wait === null ? backoff : Math.min(cap, wait), options.signal);
        continue;
      }
      if (!response.ok) throw await errorFromResponse(response);
      const text = await response.text();
      return {
        data: (text ? JSON.parse(text) : undefined) as T,
        status: response.status,
        headers: response.headers,
        replayed: response.headers.get("idempotent-replayed") === "true",
        idempotencyKey,
        requestId: response.headers.get("x-request-id"),
      };
    }
  }

  private async data<T>(result: Promise<Result<T>>): Promise<T> {
    return (await result).data;
  }

  // --- Events -----------------------------------------------------------------------------

  /** A touchpoint event (purchase, refund, visit, signup, custom) with all its effects. */
  sendEvent(event: Body<"/v1/events", "post">, options?: CallOptions) {
    return this.request("POST", "/v1/events", { ...options, body: event });
  }

  // --- Members ----------------------------------------------------------------------------

  /** Enrol a member (touchpoint or admin key). */
  createMember(member: Body<"/v1/members", "post">, options?: CallOptions) {
    return this.request("POST", "/v1/members", { ...options, body: member });
  }

  /** The member with this identifier, or null when there is none. */
  async lookupMember(type: string, value: string, options?: CallOptions) {
    try {
      return await this.data(
        this.request("GET", "/v1/members/lookup", { ...options, query: { type, value } }),
      );
    } catch (error) {
      if (error instanceof Error && (error as { code?: string }).code === "unknown_member")
        return null;
      throw error;
    }
  }

  /**
   * Change a member's profile with a JSON merge patch: a field left out is kept, `null` clears
   * it; `attributes` merge name by name. A member token changes its own member's names,
   * attributes and (once) birthday, not its contact details.
   */
  updateMember(memberId: string, patch: Body<"/v1/members/{id}", "patch">, options?: CallOptions) {
    return this.data(
      this.request("PATCH", "/v1/members/{id}", { ...options, params: { id: memberId }, body: patch }),
    );
  }

  /**
   * A token for one member, for the app in that member's hands (reads its wallet, redeems its
   * coupons, claims rewards, follows its events). Minted by a backend with a touchpoint key.
   */
  mintMemberToken(memberId: string, ttlSeconds?: number, options?: CallOptions) {
    return this.data(
      this.request("POST", "/v1/members/{id}/tokens", {
        ...options,
        params: { id: memberId },
        body: ttlSeconds === undefined ? {} : { ttl_seconds: ttlSeconds },
      }),
    );
  }

  /**
   * "Sign out everywhere": every token minted for the member so far is refused from now on
   * (401 `token_revoked`, its streams closed). The member's own token may call it.
   */
  async revokeMemberTokens(memberId: string, options?: CallOptions): Promise<void> {
    await this.request("DELETE", "/v1/members/{id}/tokens", { ...options, params: { id: memberId } });
  }

  /**
   * What the member is interested in (top categories, brands, products; preferred channel and
   * store; recent spend), for members who agreed to profiling: the till greets the customer with it.
   */
  getInterests(memberId: string, options?: CallOptions) {
    return this.data(this.request("GET", "/v1/members/{id}/interests", { ...options, params: { id: memberId } }));
  }

  /**
   * The segments the member is in (dynamic ones follow the program's conditions, static ones are
   * uploaded lists): the till and the app can greet a "lapsed-gold" customer accordingly.
   */
  getMemberSegments(memberId: string, options?: CallOptions) {
    return this.data(this.request("GET", "/v1/members/{id}/segments", { ...options, params: { id: memberId } }));
  }

  /**
   * The next best offers for the member, best first, each with a reason a person can read: a
   * reward it can claim or is close to, a code in its wallet, a challenge in progress, a campaign
   * and categories bought by similar members (the last two only with consent to profiling). A
   * touchpoint sees what is valid on its channel; `total` and `categories` describe the basket.
   */
  getOffers(memberId: string, query?: QueryOf<"/v1/members/{id}/offers", "get">, options?: CallOptions) {
    return this.data(
      this.send<ResponseBody<"/v1/members/{id}/offers", "get">>("GET", "/v1/members/{id}/offers", {
        ...options,
        params: { id: memberId },
        query: query as Record<string, QueryValue>,
      }),
    );
  }

  /** The member's consent per purpose: marketing by email, SMS, push; profiling; leaderboards. */
  getConsents(memberId: string, options?: CallOptions) {
    return this.data(this.request("GET", "/v1/members/{id}/consents", { ...options, params: { id: memberId } }));
  }

  /**
   * Gives (`true`) or withdraws (`false`) consent for the purposes named; recorded with time and
   * source (the member's app, or staff at a touchpoint). Marketing notifications go out only
   * through the channels agreed to.
   */
  updateConsents(memberId: string, changes: Body<"/v1/members/{id}/consents", "patch">, options?: CallOptions) {
    return this.data(
      this.request("PATCH", "/v1/members/{id}/consents", { ...options, params: { id: memberId }, body: changes }),
    );
  }

  /**
   * A one-time code (`XXXX-XXXX`, valid `ttlSeconds`, 30–900, default 300) for the member's app
   * to show at a till, as text or a QR code: the till sends it as `{member: {link_code}}` with the
   * purchase (and a new card to link), which identifies the member with certainty.
   */
  createLinkCode(memberId: string, ttlSeconds?: number, options?: CallOptions) {
    return this.data(
      this.request("POST", "/v1/members/{id}/link-codes", {
        ...options,
        params: { id: memberId },
        body: ttlSeconds === undefined ? {} : { ttl_seconds: ttlSeconds },
      }),
    );
  }

  /**
   * The member's referral code (made the first time it is asked for) and how its referrals
   * stand: what the app shows on its "invite a friend" screen. A new member's enrolling request
   * sends the code as `referral_code`.
   */
  getReferralCode(memberId: string, options?: CallOptions) {
    return this.data(
      this.request("GET", "/v1/members/{id}/referral", { ...options, params: { id: memberId } }),
    );
  }

  /** The member's referrals, as referrer and as referee, with their state. */
  listReferrals(memberId: string, options?: CallOptions) {
    return this.data(
      this.request("GET", "/v1/members/{id}/referrals", { ...options, params: { id: memberId } }),
    );
  }

  getWallet(memberId: string, query?: QueryOf<"/v1/members/{id}/wallet", "get">, options?: CallOptions) {
    return this.data(
      this.request("GET", "/v1/members/{id}/wallet", { ...options, params: { id: memberId }, query }),
    );
  }

  /** One page of points movements, newest first; pass `next_cursor` back as `cursor`. */
  getLedger(memberId: string, query?: { limit?: number; cursor?: string }, options?: CallOptions) {
    return this.data(
      this.request("GET", "/v1/members/{id}/ledger", { ...options, params: { id: memberId }, query }),
    );
  }

  /** One page of the member's journey across channels, newest first. */
  getTimeline(memberId: string, query?: { limit?: number; cursor?: string }, options?: CallOptions) {
    return this.data(
      this.request("GET", "/v1/members/{id}/timeline", { ...options, params: { id: memberId }, query }),
    );
  }

  /** Spend points, soonest-expiring first (staff keys). */
  spendPoints(memberId: string, points: number, reason?: string, options?: CallOptions) {
    return this.request("POST", "/v1/members/{id}/points/spend", {
      ...options,
      params: { id: memberId },
      body: reason === undefined ? { points } : { points, reason },
    });
  }

  // --- Coupons ----------------------------------------------------------------------------

  /** Whether a code can be used now, and its discount; writes nothing. */
  validateCoupon(use: Body<"/v1/coupons/validate", "post">, options?: CallOptions) {
    return this.data(
      this.send<ResponseBody<"/v1/coupons/validate", "post">>(
        "POST",
        "/v1/coupons/validate",
        { ...options, body: use },
      ),
    );
  }

  /** Hold a use of a code for the member during an app checkout. */
  reserveCoupon(hold: Body<"/v1/coupons/reserve", "post">, options?: CallOptions) {
    return this.send<ResponseBody<"/v1/coupons/reserve", "post">>(
      "POST",
      "/v1/coupons/reserve",
      { ...options, body: hold },
    );
  }

  /** Take one use of a code at checkout; exactly once, whatever the retries. */
  redeemCoupon(use: Body<"/v1/coupons/redeem", "post">, options?: CallOptions) {
    return this.send<ResponseBody<"/v1/coupons/redeem", "post">>(
      "POST",
      "/v1/coupons/redeem",
      { ...options, body: use },
    );
  }

  /** Give a redemption's use back (the order was cancelled). */
  rollbackRedemption(redemptionId: string, options?: CallOptions) {
    return this.send<ResponseBody<"/v1/redemptions/{id}/rollback", "post">>(
      "POST",
      "/v1/redemptions/{id}/rollback",
      { ...options, params: { id: redemptionId } },
    );
  }

  // --- Rewards ----------------------------------------------------------------------------

  listRewards(options?: CallOptions) {
    return this.data(
      this.send<ResponseBody<"/v1/rewards", "get">>("GET", "/v1/rewards", options ?? {}),
    );
  }

  /** Spend a reward's cost and issue its coupon to the member. */
  claimReward(rewardId: string, member?: MemberRef, options?: CallOptions) {
    // With a member token the member may be left out: it is the token's.
    return this.send<ResponseBody<"/v1/rewards/{id}/claim", "post">>(
      "POST",
      "/v1/rewards/{id}/claim",
      { ...options, params: { id: rewardId }, body: member === undefined ? {} : { member } },
    );
  }

  // --- Gamification -----------------------------------------------------------------------

  /** With a member: its progress in each challenge and its badges; without: the catalog. */
  getChallenges(memberId?: undefined, options?: CallOptions): Promise<{ items: Challenge[] }>;
  getChallenges(
    memberId: string,
    options?: CallOptions,
  ): Promise<ResponseBody<"/v1/members/{id}/challenges", "get">>;
  getChallenges(memberId?: string, options?: CallOptions): Promise<unknown> {
    if (memberId === undefined)
      return this.data(this.send<{ items: Challenge[] }>("GET", "/v1/challenges", options ?? {}));
    return this.data(
      this.request("GET", "/v1/members/{id}/challenges", { ...options, params: { id: memberId } }),
    );
  }

  getLeaderboard(query?: QueryOf<"/v1/leaderboards/points", "get">, options?: CallOptions) {
    return this.data(
      this.send<ResponseBody<"/v1/leaderboards/points", "get">>(
        "GET",
        "/v1/leaderboards/points",
        { ...options, query: query as Record<string, QueryValue> },
      ),
    );
  }

  // --- Outgoing events --------------------------------------------------------------------

  /**
   * One page of outgoing events after `after` (`feedEvents` reads them all). Typed by the SDK's
   * own FeedEvent: the stream and webhooks carry the same JSON, which the document cannot type.
   */
  listFeed(
    query?: { after?: number; limit?: number; member?: string; types?: readonly string[] | string },
    options?: CallOptions,
  ): Promise<FeedPage> {
    return this.data(
      this.send<FeedPage>("GET", "/v1/feed", {
        ...options,
        query: query as Record<string, QueryValue>,
      }),
    );
  }
}
