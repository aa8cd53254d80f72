// Types of the API, read from the generated `paths` (keyed by path and method, which stay stable
// while docs/openapi.yaml grows) rather than from component names (which may be renamed).
import type { paths } from "./schema.js";

export type { paths };
export type Path = keyof paths;
export type Method = "get" | "post" | "put" | "patch" | "delete";

/** The OpenAPI operation at `P` `M` (never when the path has no such method). */
export type Operation<P extends Path, M extends Method> = NonNullable<paths[P][M]>;

/** The JSON request body of an operation. */
export type RequestBody<P extends Path, M extends Method> =
  Operation<P, M> extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;

/** The query parameters of an operation. */
export type QueryOf<P extends Path, M extends Method> =
  Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

type Success = 200 | 201 | 202;
type JsonContent<R> = R extends { content: { "application/json": infer B } } ? B : never;
type OrElse<T, F> = [T] extends [never] ? F : T;

/**
 * The JSON of an operation's 2xx answers. Where the document describes none yet, `Fallback` (a
 * hand-written shape from what circolod sends): once the document describes it, its type wins.
 */
export type ResponseBody<P extends Path, M extends Method, Fallback = unknown> =
  Operation<P, M> extends { responses: infer R }
    ? OrElse<{ [K in keyof R]: K extends Success ? JsonContent<R[K]> : never }[keyof R], Fallback>
    : Fallback;

/** An RFC 9457 problem as circolod sends it; some codes add fields (`available`, `merged_into`…). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  request_id?: string;
  errors?: { field: string; message: string }[];
  [extension: string]: unknown;
}

/** A page of a cursor-paged list. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** An outgoing event, as in the feed, the stream and webhook deliveries. */
export interface FeedEvent {
  id: string;
  seq: number;
  type: string;
  member_id: string | null;
  at: string;
  data: Record<string, unknown>;
}

export interface FeedPage {
  items: FeedEvent[];
  /** Ask again with `after: next_after`. */
  next_after: number;
  last_seq: number;
}

// Hand-written shapes of answers the document only describes in prose so far.

export type CouponValidation =
  | { valid: true; coupon: string; discount: string; expires_at: string; uses_left: number }
  | { valid: false; code: string; detail: string };

export interface Reservation {
  reservation_id: string;
  code: string;
  coupon: string;
  member_id: string;
  channel: string | null;
  created_at: string;
  expires_at: string;
}

export interface Redemption {
  redemption_id: string;
  code: string;
  coupon: string;
  member_id: string;
  discount: string;
}

export interface RolledBackRedemption {
  rolled_back_at: string | null;
  uses_left: number;
  [field: string]: unknown;
}

export interface Reward {
  id: string;
  name: string;
  cost: number;
  coupon: { id: string; name: string };
  stock: number | null;
  remaining: number | null;
}

export interface RewardClaim {
  claim_id: string;
  reward: string;
  member_id: string;
  points_spent: number;
  coupon: { coupon: string; code: string; expires_at: string };
  points: { available: number; pending: number };
}

export interface Challenge {
  id: string;
  name: string;
  counts: string;
  goal: { kind: "count" | "sum" | "distinct" | "streak"; target: number | string; text: string };
  within: string | null;
  active_from: string | null;
  active_until: string | null;
  repeatable: boolean;
}

export interface Leaderboard {
  period: string;
  from: string | null;
  until: string | null;
  entries: { rank: number; member_id: string; name: string | null; points: number }[];
  member: { member_id: string; rank: number; points: number } | null;
}

export interface WebhookEndpoint {
  id: string;
  url: string;
  events: string[];
  created_at: string;
  disabled_at: string | null;
  [field: string]: unknown;
}
