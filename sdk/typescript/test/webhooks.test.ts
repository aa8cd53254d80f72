import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { signWebhook, verifyWebhook, WebhookVerificationError } from "@circolo/sdk";
import { admin, eventually, newMember, purchase } from "./support.js";

const secret = "sdk-test-webhook-secret-0123456789";

interface Delivery {
  body: Buffer;
  headers: IncomingHttpHeaders;
}

describe("webhooks from circolod", () => {
  const deliveries: Delivery[] = [];
  const receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      deliveries.push({ body: Buffer.concat(chunks), headers: request.headers });
      response.writeHead(204).end();
    });
  });
  let webhookId = "";

  before(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const { port } = receiver.address() as AddressInfo;
    const created = await admin().request("POST", "/v1/admin/webhooks", {
      body: { url: `http://127.0.0.1:${port}/hooks/circolo`, events: ["points.earned"], secret },
    });
    webhookId = created.data.id;
  });

  after(async () => {
    if (webhookId) await admin().request("DELETE", "/v1/admin/webhooks/{id}", { params: { id: webhookId } });
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  test("a real delivery verifies; tampering, a wrong secret and a stale time are refused", async () => {
    const { id } = await newMember();
    await purchase(id, "15.00");
    const delivery = await eventually(
      () => deliveries.find((d) => JSON.parse(d.body.toString()).member_id === id),
      15_000,
      "the webhook delivery",
    );

    const verified = verifyWebhook(delivery.body, delivery.headers, { secret });
    assert.equal(verified.event.type, "points.earned");
    assert.equal(verified.event.member_id, id);
    assert.equal(verified.eventType, "points.earned");
    assert.equal(verified.eventId, verified.event.id);
    // The raw body as a string verifies too, and so do fetch-style Headers.
    const headers = new Headers(delivery.headers as Record<string, string>);
    assert.equal(verifyWebhook(delivery.body.toString("utf8"), headers, { secret }).event.seq, verified.event.seq);

    const reason = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        assert.ok(error instanceof WebhookVerificationError);
        return error.reason;
      }
      assert.fail("accepted");
    };
    const tampered = Buffer.from(delivery.body.toString().replace(/"points":\d+/, '"points":100000'));
    assert.notDeepEqual(tampered, delivery.body);
    assert.equal(reason(() => verifyWebhook(tampered, delivery.headers, { secret })), "signature_mismatch");
    assert.equal(
      reason(() => verifyWebhook(delivery.body, delivery.headers, { secret: "another-secret-0123456789" })),
      "signature_mismatch",
    );
    const signedAt = verified.timestamp * 1000;
    assert.equal(
      reason(() => verifyWebhook(delivery.body, delivery.headers, { secret, now: () => signedAt + 301_000 })),
      "timestamp_out_of_tolerance",
    );
    assert.equal(
      reason(() => verifyWebhook(delivery.body, delivery.headers, { secret, now: () => signedAt - 301_000 })),
      "timestamp_out_of_tolerance",
    );
    // Within the window, and a wider window on request.
    verifyWebhook(delivery.body, delivery.headers, { secret, now: () => signedAt + 299_000 });
    verifyWebhook(delivery.body, delivery.headers, { secret, now: () => signedAt + 3_000_000, toleranceSeconds: 3600 });
    assert.equal(reason(() => verifyWebhook(delivery.body, {}, { secret })), "missing_signature");
    assert.equal(
      reason(() => verifyWebhook(delivery.body, { "circolo-signature": "v1=abc" }, { secret })),
      "malformed_signature",
    );
  });
});

describe("signWebhook", () => {
  test("signs as circolod does, and any of several v1 values may match", () => {
    const body = JSON.stringify({ id: "evt_1", seq: 1, type: "points.earned", member_id: null, at: "", data: {} });
    const signature = signWebhook(secret, body, 1_700_000_000);
    const now = () => 1_700_000_000_000;
    assert.equal(verifyWebhook(body, { "circolo-signature": signature }, { secret, now }).event.id, "evt_1");
    const rotated = `t=1700000000,v1=${"0".repeat(64)},${signature.split(",")[1]}`;
    assert.equal(verifyWebhook(body, { "circolo-signature": rotated }, { secret, now }).timestamp, 1_700_000_000);
  });
});
