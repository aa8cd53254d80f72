// Types of the API, read from the generated `paths` (keyed by path and method, which stay stable
// while docs/openapi.yaml grows) rather than from component names (which may be renamed).
import type { components, paths } from "./schema.js";

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

/** The JSON of an operation's 2xx answers (200, 201 and 202 together). */
export type ResponseBody<P extends Path, M extends Method> =
  Operation<P, M> extends { responses: infer R }
    ? { [K in keyof R]: K extends Success ? JsonContent<R[K]> : never }[keyof R]
    : never;

/** A named schema of the document. */
export type Schema<N extends keyof components["schemas"]> = components["schemas"][N];

/** An RFC 9457 problem as circolod sends it; some codes add fields (`available`, `merged_into`…). */
export type Problem = Schema<"Problem">;

/** A page of a cursor-paged list. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** An outgoing event, as in the feed, the stream and webhook deliveries. */
export type FeedEvent = Schema<"OutgoingEvent">;
export type FeedPage = ResponseBody<"/v1/feed", "get">;
export type Effect = Schema<"Effect">;
export type CouponValidation = ResponseBody<"/v1/coupons/validate", "post">;
export type Reservation = Schema<"Reservation">;
export type Redemption = ResponseBody<"/v1/coupons/redeem", "post">;
export type RolledBackRedemption = ResponseBody<"/v1/redemptions/{id}/rollback", "post">;
export type Reward = ResponseBody<"/v1/rewards", "get">["items"][number];
export type RewardClaim = ResponseBody<"/v1/rewards/{id}/claim", "post">;
export type Challenge = ResponseBody<"/v1/challenges", "get">["items"][number];
export type Leaderboard = ResponseBody<"/v1/leaderboards/points", "get">;
export type WebhookEndpoint = Schema<"Webhook">;
