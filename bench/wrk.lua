-- wrk script for the benchmark harness (bench/harness.py).
--   BENCH_BODY_FILE    the request body (a GraphQL JSON request), POSTed every time
--   BENCH_TOKEN        optional bearer token sent with every request
--   BENCH_TOKENS_FILE  optional file of tokens, one per line: each request takes the
--                      next one (the harness makes the pool larger than the run so
--                      that no token is sent twice)
--   BENCH_TOKENS_OFFSET  optional: start after this many tokens of the file (the
--                      paired runs give each burst a fresh slice of one pool)
--   BENCH_DELAY_MS     optional mean think time per connection between a response
--                      and the next request (uniform 0..2x, whole milliseconds):
--                      an offered rate of about connections / delay instead of
--                      as fast as the router answers
-- done() prints one RESULT line the harness parses.
local function read_file(path)
  local file = assert(io.open(path, "rb"), "cannot open " .. path)
  local text = file:read("*a")
  file:close()
  return text
end

local body = read_file(assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set"))
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local tokens_file = os.getenv("BENCH_TOKENS_FILE")
if tokens_file ~= nil and tokens_file ~= "" then
  local tokens = {}
  for line in io.lines(tokens_file) do
    if line ~= "" then tokens[#tokens + 1] = line end
  end
  assert(#tokens > 0, "no tokens in " .. tokens_file)
  local next_token = tonumber(os.getenv("BENCH_TOKENS_OFFSET") or "") or 0
  request = function()
    next_token = next_token % #tokens + 1
    return wrk.format("POST", nil, {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. tokens[next_token],
    }, body)
  end
end

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if delay_ms ~= nil and delay_ms > 0 then
  math.randomseed(os.time())
  delay = function()
    return math.random(0, 2 * delay_ms)
  end
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
