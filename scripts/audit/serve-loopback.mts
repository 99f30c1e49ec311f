// Serves the audit's subgraphs, supergraphs and tests (the same router as the
// audit's own `serve` command) but bound to 127.0.0.1 only.
// Run from the audit checkout: tsx serve-loopback.mts PORT
import { createServer } from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const auditDir = process.env.AUDIT_DIR;
if (!auditDir) throw new Error("AUDIT_DIR is required");
const port = parseInt(process.argv[2] ?? "4200", 10);

const { createRouter } = await import(
  pathToFileURL(join(auditDir, "src", "index.ts")).href
);
const server = createServer(createRouter()).listen(port, "127.0.0.1", () => {
  console.log(`audit server listening on http://127.0.0.1:${port}`);
});
const close = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.once("SIGINT", close);
process.once("SIGTERM", close);
