// Run by test/run.sh once circolod is ready: applies the test program and creates touchpoint
// keys, then writes what the tests need to the fixture file.
import { readFileSync, writeFileSync } from "node:fs";
import { CircoloClient } from "@circolo/sdk";

const [programPath, fixturePath] = process.argv.slice(2);
const url = process.env.CIRCOLO_URL!;
const adminKey = process.env.CIRCOLO_ADMIN_KEY!;
const admin = new CircoloClient({ baseUrl: url, key: adminKey });

await admin.request("POST", "/v1/admin/program", { body: { source: readFileSync(programPath, "utf8") } });
const keys: Record<string, string> = {};
for (const channel of ["store", "app", "web"]) {
  const created = await admin.request("POST", "/v1/admin/keys", {
    body: { role: "touchpoint", channel, name: `sdk test ${channel}` },
  });
  keys[channel] = created.data.key!;
}
// Instances pick a new program version up within a second: wait until this one serves it.
for (let tries = 0; ; tries++) {
  const rewards = await admin.listRewards();
  if (rewards.items?.some((r) => r.id === "free-coffee")) break;
  if (tries > 100) throw new Error("the program was applied but is not served");
  await new Promise((resolve) => setTimeout(resolve, 100));
}
writeFileSync(fixturePath, JSON.stringify({ url, adminKey, keys }));
