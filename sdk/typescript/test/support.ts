// What every test file shares: the server test/run.sh started and the keys test/setup.ts made.
import { readFileSync } from "node:fs";
import { CircoloClient, type ClientOptions } from "@circolo/sdk";

export interface Fixture {
  url: string;
  adminKey: string;
  /** Touchpoint keys by channel: store, app, web. */
  keys: Record<string, string>;
}

export function fixture(): Fixture {
  const path = process.env.CIRCOLO_TEST_FIXTURE;
  if (!path) throw new Error("CIRCOLO_TEST_FIXTURE is not set: run the tests through test/run.sh");
  return JSON.parse(readFileSync(path, "utf8")) as Fixture;
}

const f = fixture();

export const admin = (options: Partial<ClientOptions> = {}) =>
  new CircoloClient({ baseUrl: f.url, key: f.adminKey, ...options });

/** A touchpoint key's client (`store` by default). */
export const touchpoint = (channel = "store", options: Partial<ClientOptions> = {}) =>
  new CircoloClient({ baseUrl: f.url, key: f.keys[channel], ...options });

let cards = 0;
/** A card number nobody has yet. */
export const newCard = () =>
  `4${String(process.pid).padStart(7, "0")}${String(Date.now() % 1e6).padStart(6, "0")}${String(++cards).padStart(2, "0")}`;

/** A new member with a card; its id and card. */
export async function newMember(client = touchpoint()) {
  const card = newCard();
  const created = await client.createMember({ identifiers: [{ type: "card", value: card }] });
  return { id: created.data.id as string, card };
}

/** A purchase of `total` euros by the member from the store (1 point per euro). */
export function purchase(memberId: string, total: string, client = touchpoint()) {
  return client.sendEvent({ type: "purchase", member: { id: memberId }, total, currency: "EUR" });
}

/** Waits until `check` returns something truthy (polling), or fails after `ms`. */
export async function eventually<T>(check: () => T | Promise<T>, ms = 10_000, what = "the condition"): Promise<NonNullable<T>> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
