// Composes supergraph.graphql from the four demo subgraph SDLs with
// @theguild/federation-composition (versions pinned in package.json).
// Usage: npm ci && node compose.mjs
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "graphql";
import { composeServices } from "@theguild/federation-composition";

const here = dirname(fileURLToPath(import.meta.url));
const names = ["accounts", "products", "reviews", "inventory"];
const services = names.map((name) => ({
  name,
  url: `http://127.0.0.1:4100/${name}`,
  typeDefs: parse(readFileSync(join(here, `${name}.graphql`), "utf8")),
}));

const result = composeServices(services);
if (result.errors && result.errors.length > 0) {
  for (const error of result.errors) console.error(`composition error: ${error.message}`);
  process.exit(1);
}
writeFileSync(join(here, "supergraph.graphql"), result.supergraphSdl);
console.log(`wrote supergraph.graphql (${names.length} subgraphs)`);
