// The contract check itself, on recorded answers made up here: it must pass what the file
// documents and name each kind of drift. (node --test)
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";

const here = dirname(fileURLToPath(import.meta.url));

function check(answers) {
  const folder = mkdtempSync(join(tmpdir(), "contract-"));
  try {
    writeFileSync(join(folder, "1.jsonl"), answers.map((a) => JSON.stringify(a)).join("\n") + "\n");
    const run = spawnSync(process.execPath, [join(here, "check-responses.mjs"), folder], { encoding: "utf8" });
    return { status: run.status, output: run.stdout + run.stderr };
  } finally {
    rmSync(folder, { recursive: true });
  }
}

const problem = (status, code) => ({
  type: `https://circolo.dev/problems/${code}`,
  title: "t",
  status,
  detail: "d",
  code,
  request_id: "req_1",
});
const json = { "content-type": "application/json", "x-request-id": "req_1" };
const problemJson = { "content-type": "application/problem+json", "x-request-id": "req_1" };
const member = {
  id: "mem_1",
  tier: null,
  points: { available: 0, pending: 0 },
  identifiers: [{ type: "card", value: "1" }],
  profile: { name: null, display_name: null, email: null, phone: null, birthday: null, attributes: {} },
  tags: [],
  joined_at: "2026-12-06T10:00:00Z",
  erased_at: null,
};

test("documented answers pass", () => {
  const r = check([
    { method: "GET", target: "/v1/members/mem_1", status: 200, headers: json, body: JSON.stringify(member) },
    { method: "GET", target: "/v1/members/lookup?type=card&value=1", status: 200, headers: json, body: JSON.stringify(member) },
    { method: "POST", target: "/v1/members", status: 201, headers: { ...json, location: "/v1/members/mem_1" }, body: JSON.stringify(member) },
    { method: "GET", target: "/v1/members/mem_1", status: 401, headers: { ...problemJson, "www-authenticate": "Bearer" }, body: JSON.stringify(problem(401, "unauthenticated")) },
    { method: "GET", target: "/nowhere", status: 404, headers: problemJson, body: JSON.stringify(problem(404, "not_found")) },
  ]);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /4 answers/);
});

test("an undocumented status fails", () => {
  const r = check([{ method: "GET", target: "/v1/members/mem_1", status: 418, headers: problemJson, body: JSON.stringify(problem(418, "teapot")) }]);
  assert.equal(r.status, 1);
  assert.match(r.output, /GET \/v1\/members\/\{id\} -> 418: status not documented/);
});

test("a body that drifts from its schema fails, naming the field", () => {
  const r = check([{ method: "GET", target: "/v1/members/mem_1", status: 200, headers: json, body: JSON.stringify({ ...member, points: { available: "0", pending: 0 } }) }]);
  assert.equal(r.status, 1);
  assert.match(r.output, /\/points\/available must be integer/);
  const extra = check([{ method: "GET", target: "/v1/members/mem_1", status: 200, headers: json, body: JSON.stringify({ ...member, surprise: 1 }) }]);
  assert.match(extra.output, /must NOT have additional properties \(surprise\)/);
});

test("a missing required header and an undocumented content type fail", () => {
  const r = check([
    { method: "POST", target: "/v1/members", status: 201, headers: json, body: JSON.stringify(member) },
    { method: "GET", target: "/v1/members/mem_1", status: 200, headers: { "content-type": "text/html" }, body: "<p>" },
  ]);
  assert.equal(r.status, 1);
  assert.match(r.output, /POST \/v1\/members -> 201: header Location missing/);
  assert.match(r.output, /content type text\/html not documented/);
});

test("an answer of an operation the file does not have fails", () => {
  const r = check([{ method: "GET", target: "/v1/unknown-thing", status: 200, headers: json, body: "{}" }]);
  assert.equal(r.status, 1);
  assert.match(r.output, /no operation in the OpenAPI file/);
});
