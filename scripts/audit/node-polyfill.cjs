// Preloaded into every node process of the audit (NODE_OPTIONS=--require).
// The audit's CLI and subgraph server call Promise.withResolvers, which
// Node 22 has and Node 20 (the version on our machines) lacks.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
