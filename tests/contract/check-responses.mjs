// Validates every answer the e2e tests received (recorded by tests/support/http_client.cpp into
// CIRCOLO_CONTRACT_LOG/<pid>.jsonl) against docs/openapi.yaml: the operation must exist, list the
// status, and, when it documents a JSON body for it, the body must match that schema (JSON Schema
// 2020-12, as OpenAPI 3.1 uses). Exits 1 listing each drift, so that a change that drifts from
// the file fails CI.
//
//   node check-responses.mjs <log folder> [--openapi ../../docs/openapi.yaml] [--coverage]
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import YAML from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const folder = args.find((a) => !a.startsWith("--"));
const openapiAt = args.indexOf("--openapi");
const openapiPath = openapiAt >= 0 ? args[openapiAt + 1] : join(here, "../../docs/openapi.yaml");
const showCoverage = args.includes("--coverage");
if (!folder) {
  console.error("usage: node check-responses.mjs <log folder> [--openapi FILE] [--coverage]");
  process.exit(2);
}

const doc = YAML.parse(readFileSync(openapiPath, "utf8"));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(doc, "openapi");

const pointer = (...parts) =>
  "#/" + parts.map((p) => String(p).replaceAll("~", "~0").replaceAll("/", "~1")).join("/");

function resolve(node) {
  // Follows local $refs of responses and headers (schemas are resolved by Ajv itself).
  let where = null;
  while (node && node.$ref) {
    where = node.$ref;
    node = where
      .slice(2)
      .split("/")
      .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"))
      .reduce((n, key) => n?.[key], doc);
  }
  return { node, where };
}

// Path templates, most literal first so that /v1/members/lookup wins over /v1/members/{id}.
const operations = [];
for (const [template, item] of Object.entries(doc.paths ?? {})) {
  const parts = template.split("/");
  const pattern = new RegExp(
    "^" + parts.map((p) => (p.startsWith("{") ? "[^/]+" : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("/") + "$",
  );
  const literals = parts.filter((p) => !p.startsWith("{")).length;
  for (const method of ["get", "put", "post", "delete", "patch", "head", "options"]) {
    if (item[method]) operations.push({ template, method, pattern, literals, op: item[method], seen: new Set() });
  }
}
operations.sort((a, b) => b.literals - a.literals);

function findOperation(method, target) {
  const raw = target.split("?")[0];
  let path;
  try {
    path = decodeURI(raw);
  } catch {
    path = raw; // bytes that are not UTF-8 (a test of the 400 they get): matched as sent
  }
  return operations.find((o) => o.method === method && o.pattern.test(path));
}

const validators = new Map();
function validatorFor(schemaPointer) {
  if (!validators.has(schemaPointer)) validators.set(schemaPointer, ajv.getSchema("openapi" + schemaPointer));
  return validators.get(schemaPointer);
}

const failures = new Map(); // message -> count, so one drift seen 200 times is one line
let checked = 0;
function fail(message) {
  failures.set(message, (failures.get(message) ?? 0) + 1);
}

const files = readdirSync(folder).filter((f) => f.endsWith(".jsonl"));
for (const file of files) {
  for (const line of readFileSync(join(folder, file), "utf8").split("\n")) {
    if (!line.trim()) continue;
    const answer = JSON.parse(line);
    const method = answer.method.toLowerCase();
    const where = `${answer.method} ${answer.target.split("?")[0]} -> ${answer.status}`;
    const found = findOperation(method, answer.target);
    if (!found) {
      // Unrouted paths and methods are the server's generic 404/405 (or 400 for a path that is
      // not UTF-8, refused before routing; 501 for an unknown method); nothing to document.
      if ([400, 404, 405, 501].includes(answer.status)) continue;
      fail(`${where}: no operation in the OpenAPI file`);
      continue;
    }
    checked++;
    const label = `${found.method.toUpperCase()} ${found.template} -> ${answer.status}`;
    found.seen.add(answer.status);
    const responses = found.op.responses ?? {};
    const statusKey = [String(answer.status), `${String(answer.status)[0]}XX`, "default"].find((k) => k in responses);
    if (!statusKey) {
      fail(`${label}: status not documented (body: ${answer.body.slice(0, 160)})`);
      continue;
    }
    const { node: response, where: responseRef } = resolve(responses[statusKey]);
    for (const [name, header] of Object.entries(response?.headers ?? {})) {
      if (resolve(header).node?.required && !(name.toLowerCase() in answer.headers))
        fail(`${label}: header ${name} missing`);
    }
    const contentType = (answer.headers["content-type"] ?? "").split(";")[0].trim();
    const content = response?.content ?? {};
    if (!answer.body) {
      if (Object.keys(content).length && answer.status !== 204 && method !== "head")
        fail(`${label}: empty body, documented ${Object.keys(content).join(", ")}`);
      continue;
    }
    if (!(contentType in content)) {
      fail(`${label}: content type ${contentType || "(none)"} not documented (${Object.keys(content).join(", ") || "no body"})`);
      continue;
    }
    if (!contentType.endsWith("json")) continue;
    if (!content[contentType].schema) continue;
    let body;
    try {
      body = JSON.parse(answer.body);
    } catch {
      fail(`${label}: body is not JSON`);
      continue;
    }
    const schemaPointer = responseRef
      ? responseRef.slice(1) + pointer("content", contentType, "schema").slice(1)
      : pointer("paths", found.template, found.method, "responses", statusKey, "content", contentType, "schema").slice(1);
    const validate = validatorFor("#" + schemaPointer);
    if (!validate) {
      fail(`${label}: schema ${schemaPointer} not found`);
      continue;
    }
    if (!validate(body)) {
      const errors = validate.errors
        .slice(0, 4)
        .map((e) => `${e.instancePath || "/"} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ""}`)
        .join("; ");
      fail(`${label}: body does not match the schema: ${errors}`);
    }
  }
}

if (showCoverage) {
  for (const o of operations) {
    const seen = [...o.seen].sort().join(", ");
    console.log(`${o.method.toUpperCase().padEnd(6)} ${o.template.padEnd(52)} ${seen || "(never called)"}`);
  }
}
if (failures.size) {
  for (const [message, count] of [...failures].sort()) console.error(`contract: ${message}${count > 1 ? ` (x${count})` : ""}`);
  console.error(`contract: ${failures.size} kinds of drift from ${openapiPath} in ${checked} answers`);
  process.exit(1);
}
if (checked === 0) {
  console.error(`contract: no recorded answers in ${folder}`);
  process.exit(1);
}
console.log(`contract: ${checked} answers from ${files.length} test processes match ${openapiPath}`);
