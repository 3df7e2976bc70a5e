-- wrk script of `scripts/bench api`: one mix per run, chosen by the first argument.
--
--   wrk ... -s scripts/bench_api.lua URL -- get     PATHS_FILE
--   wrk ... -s scripts/bench_api.lua URL -- verify  BODIES_FILE TOKEN_FILE
--   wrk ... -s scripts/bench_api.lua URL -- records USCCS_FILE  TOKEN_FILE NONCE
--
-- get: a random path of the file per request (Accept: application/json);
-- verify: a random body of the file (one JSON object a line) POSTed to /v1/verify/filings;
-- records: a new complaint.received for a random enterprise POSTed to /v1/records.
-- wrk keeps one request in flight per connection, so every record's client waits for
-- its proof before it sends the next one. The token is read from an owner-only file, never
-- given on the command line (where other users could read it). done() prints one JSON line.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local function lines(name)
  local found = {}
  for line in io.lines(name) do
    if #line > 0 then table.insert(found, line) end
  end
  assert(#found > 0, "no lines in " .. name)
  return found
end

local mix, items, token, nonce
local sent = 0

function init(args)
  mix = args[1]
  items = lines(args[2])
  if args[3] then token = lines(args[3])[1] end
  nonce = args[4] or "0"
  math.randomseed(os.time() * 1000 + tid)
end

function request()
  local item = items[math.random(#items)]
  if mix == "get" then
    return wrk.format("GET", item, { ["Accept"] = "application/json" })
  end
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }
  if mix == "verify" then
    return wrk.format("POST", "/v1/verify/filings", headers, item)
  end
  sent = sent + 1
  local body = string.format(
    '{"kind":"complaint.received","payload":{"uscc":"%s","channel":"platform",'
      .. '"summary":"bench %s-%d-%d"}}',
    item, nonce, tid, sent)
  return wrk.format("POST", "/v1/records", headers, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.6f,"p50_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"bad_status":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    latency.max, errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
