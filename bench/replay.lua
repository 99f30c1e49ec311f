-- wrk script replaying captured subgraph requests straight at the subgraphs
-- (the harness's "direct" ceiling, bench/harness.py).
--   BENCH_REPLAY_FILE  lines of "<path>\t<JSON body>": every request takes the next
--                      line, so one pass over the file is what the router sends the
--                      subgraphs for one client request.
-- done() prints one RESULT line the harness parses.
local entries = {}
local path = assert(os.getenv("BENCH_REPLAY_FILE"), "BENCH_REPLAY_FILE is not set")
for line in io.lines(path) do
  local tab = line:find("\t", 1, true)
  if tab then
    entries[#entries + 1] = { path = line:sub(1, tab - 1), body = line:sub(tab + 1) }
  end
end
assert(#entries > 0, "nothing to replay in " .. path)

local next_entry = 0
request = function()
  next_entry = next_entry % #entries + 1
  local entry = entries[next_entry]
  return wrk.format("POST", entry.path, { ["Content-Type"] = "application/json" }, entry.body)
end

done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f requests=%d errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.requests, errors, summary.errors.status))
end
