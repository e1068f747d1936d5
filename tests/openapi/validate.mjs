// Validates an OpenAPI document: node validate.mjs FILE
//
//   1. the file is strict JSON (the server embeds it verbatim);
//   2. it conforms to the official OpenAPI 3.x JSON schema (@seriousme/openapi-schema-validator);
//   3. every local $ref resolves, operationIds are unique, path templates and path
//      parameters agree;
//   4. every example (schema `example`, media type `example`/`examples`, parameter examples)
//      validates against its schema (ajv; OpenAPI 3.0 `nullable` is honoured).
//
// Prints every error found and exits 1 when there is any, 0 otherwise.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv from "ajv";

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs FILE");
  process.exit(2);
}

const errors = [];
const fail = (where, what) => errors.push(`${where}: ${what}`);

let text;
let spec;
try {
  text = readFileSync(file, "utf8");
  spec = JSON.parse(text);
} catch (e) {
  console.error(`${file}: ${e.message}`);
  process.exit(1);
}

// 2. The OpenAPI schema.
const validator = new Validator();
const res = await validator.validate(JSON.parse(text));
if (!res.valid) {
  for (const e of [].concat(res.errors)) {
    fail(`schema ${e.instancePath ?? ""}`, `${e.message ?? JSON.stringify(e)}${e.params ? " " + JSON.stringify(e.params) : ""}`);
  }
}
const version = String(spec.openapi ?? "");

// 3. References, operationIds, path parameters.
const unescape = (s) => s.replace(/~1/g, "/").replace(/~0/g, "~");
const escape = (s) => String(s).replace(/~/g, "~0").replace(/\//g, "~1");
function resolvePointer(ref) {
  if (!ref.startsWith("#")) return undefined;
  let node = spec;
  for (const part of ref.slice(1).split("/").slice(1).map(unescape)) {
    if (node === null || typeof node !== "object" || !(part in node)) return undefined;
    node = node[part];
  }
  return node;
}
const deref = (node) => {
  for (let i = 0; node && typeof node === "object" && typeof node.$ref === "string" && i < 32; i++) {
    node = resolvePointer(node.$ref);
  }
  return node;
};

function walk(node, path, visit) {
  if (node === null || typeof node !== "object") return;
  visit(node, path);
  for (const [k, v] of Object.entries(node)) walk(v, `${path}/${escape(k)}`, visit);
}

walk(spec, "#", (node, path) => {
  if (typeof node.$ref === "string") {
    if (!node.$ref.startsWith("#")) fail(path, `external $ref not allowed: ${node.$ref}`);
    else if (resolvePointer(node.$ref) === undefined) fail(path, `unresolved $ref ${node.$ref}`);
  }
});

const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const opIds = new Map();
for (const [p, item] of Object.entries(spec.paths ?? {})) {
  const templated = new Set([...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]));
  for (const m of methods) {
    const op = item[m];
    if (!op) continue;
    const where = `${m.toUpperCase()} ${p}`;
    if (op.operationId) {
      if (opIds.has(op.operationId)) fail(where, `operationId ${op.operationId} also used by ${opIds.get(op.operationId)}`);
      opIds.set(op.operationId, where);
    } else {
      fail(where, "no operationId");
    }
    const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map(deref);
    const declared = new Set(params.filter((x) => x && x.in === "path").map((x) => x.name));
    for (const t of templated) if (!declared.has(t)) fail(where, `path parameter {${t}} not declared`);
    for (const d of declared) if (!templated.has(d)) fail(where, `path parameter ${d} not in the path`);
    if (!op.responses || Object.keys(op.responses).length === 0) fail(where, "no responses");
  }
}

// Object schemas: every required property is defined when additionalProperties is false.
walk(spec.components?.schemas ?? {}, "#/components/schemas", (node, path) => {
  if (node.type === "object" && node.additionalProperties === false && Array.isArray(node.required)) {
    for (const r of node.required) {
      if (!node.properties || !(r in node.properties)) fail(path, `required property ${r} is not defined`);
    }
  }
});

// 4. Examples against their schemas.
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
// OpenAPI 3.0 schema objects are JSON Schema plus `nullable`; rewrite it as a type union.
function toJsonSchema(node) {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "$ref" && typeof v === "string" && v.startsWith("#")) out[k] = "openapi.json" + v;
    else out[k] = toJsonSchema(v);
  }
  if (version.startsWith("3.0") && node.nullable === true) {
    if (typeof out.type === "string") out.type = [out.type, "null"];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    delete out.nullable;
  }
  return out;
}
ajv.addSchema(toJsonSchema(spec), "openapi.json");

function check(schemaPath, value, where) {
  let validate;
  try {
    validate = ajv.getSchema("openapi.json" + schemaPath);
  } catch (e) {
    fail(where, `cannot compile schema ${schemaPath}: ${e.message}`);
    return;
  }
  if (!validate) {
    fail(where, `no schema at ${schemaPath}`);
    return;
  }
  if (!validate(value)) {
    for (const e of validate.errors) fail(where, `example${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
  }
}

let examplesChecked = 0;
walk(spec, "#", (node, path) => {
  const isSchemaContext = /\/(schema|schemas\/[^/]+|properties\/[^/]+|items)$/.test(path);
  // A schema's own example.
  if (isSchemaContext && "example" in node && !path.includes("/examples/")) {
    check(path, node.example, `${path}/example`);
    examplesChecked++;
  }
  // A media type or parameter with a schema and example(s).
  if (node.schema && typeof node.schema === "object" && !isSchemaContext) {
    if ("example" in node) {
      check(`${path}/schema`, node.example, `${path}/example`);
      examplesChecked++;
    }
    for (const [name, exm] of Object.entries(node.examples ?? {})) {
      const e = deref(exm);
      if (e && "value" in e) {
        check(`${path}/schema`, e.value, `${path}/examples/${name}`);
        examplesChecked++;
      }
    }
  }
});

if (errors.length) {
  for (const e of errors) console.error(e);
  console.error(`${file}: INVALID, ${errors.length} error(s)`);
  process.exit(1);
}
console.log(
  `${file}: valid OpenAPI ${spec.openapi}; ${Object.keys(spec.paths ?? {}).length} paths, ` +
    `${opIds.size} operations, ${Object.keys(spec.components?.schemas ?? {}).length} schemas, ` +
    `${examplesChecked} examples checked`,
);
