// Verifying circolod's webhook deliveries. circolod POSTs the feed's event JSON with
//   Circolo-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//   Circolo-Event-Id, Circolo-Event-Type
// (api/src/webhooks.cpp). The signature covers the exact bytes sent: verify the raw body before
// any JSON parsing or re-serialisation.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { FeedEvent } from "./types.js";

export type WebhookErrorReason =
  | "missing_signature"
  | "malformed_signature"
  | "timestamp_out_of_tolerance"
  | "signature_mismatch"
  | "malformed_body";

/** A delivery that must be refused (answer 400 or 401; circolod retries non-2xx answers). */
export class WebhookVerificationError extends Error {
  readonly reason: WebhookErrorReason;
  constructor(reason: WebhookErrorReason, message: string) {
    super(message);
    this.name = "WebhookVerificationError";
    this.reason = reason;
  }
}

export interface VerifyOptions {
  /** The secret given when the webhook was registered. */
  secret: string;
  /** How far the signature's time may be from now, either way (default 300 s): stops replays. */
  toleranceSeconds?: number;
  /** The current time in ms (default Date.now), for tests. */
  now?: () => number;
}

type HeaderBag =
  | Headers
  | Record<string, string | string[] | undefined>
  | { get(name: string): string | null };

function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function")
    return (headers as Headers).get(name) ?? undefined;
  // Node's IncomingMessage.headers: lower-cased names.
  const bag = headers as Record<string, string | string[] | undefined>;
  const value = bag[name.toLowerCase()] ?? bag[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A verified delivery: the event, and the headers that name it. */
export interface WebhookDelivery {
  event: FeedEvent;
  /** Circolo-Event-Id: use it to ignore a repeat (delivery is at least once). */
  eventId: string | undefined;
  eventType: string | undefined;
  /** The signature's time, unix seconds. */
  timestamp: number;
}

/**
 * Checks a delivery's signature and freshness and returns its event; throws
 * WebhookVerificationError otherwise. `body` must be the raw request body.
 */
export function verifyWebhook(
  body: string | Uint8Array,
  headers: HeaderBag,
  options: VerifyOptions,
): WebhookDelivery {
  const signature = header(headers, "Circolo-Signature");
  if (!signature) throw new WebhookVerificationError("missing_signature", "no Circolo-Signature header");

  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of signature.split(",")) {
    const eq = part.indexOf("=");
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (eq < 0) continue;
    if (name === "t" && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    // Several v1 values may come while a secret is being rotated: any one may match.
    if (name === "v1" && /^[0-9a-f]{64}$/i.test(value)) candidates.push(value.toLowerCase());
  }
  if (timestamp === undefined || candidates.length === 0)
    throw new WebhookVerificationError("malformed_signature", "Circolo-Signature is not t=<unix>,v1=<hex>");

  const tolerance = options.toleranceSeconds ?? 300;
  const now = (options.now ?? Date.now)() / 1000;
  if (Math.abs(now - timestamp) > tolerance)
    throw new WebhookVerificationError(
      "timestamp_out_of_tolerance",
      `the signature's time is ${Math.round(now - timestamp)} s from now (tolerance ${tolerance} s)`,
    );

  const raw = typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body);
  const expected = createHmac("sha256", options.secret)
    .update(`${timestamp}.`)
    .update(raw)
    .digest();
  // Constant time: a byte-by-byte comparison would leak how much of a forged signature is right.
  const ok = candidates.some((hex) => timingSafeEqual(Buffer.from(hex, "hex"), expected));
  if (!ok) throw new WebhookVerificationError("signature_mismatch", "the signature does not match the body");

  let event: FeedEvent;
  try {
    event = JSON.parse(raw.toString("utf8")) as FeedEvent;
  } catch {
    throw new WebhookVerificationError("malformed_body", "the body is not JSON");
  }
  return {
    event,
    eventId: header(headers, "Circolo-Event-Id"),
    eventType: header(headers, "Circolo-Event-Type"),
    timestamp,
  };
}

/** The signature circolod would send (for tests of a receiver). */
export function signWebhook(secret: string, body: string, unixSeconds = Math.floor(Date.now() / 1000)) {
  const hex = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${hex}`;
}
