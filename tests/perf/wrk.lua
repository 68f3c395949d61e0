-- wrk script for the drop-spike bench: method, headers and body come from the environment
-- (WRK_METHOD, WRK_HEADERS as JSON-free "Name: value\n" lines, WRK_BODY with "{n}" replaced by a
-- number unique per request), and `done` prints one JSON line the bench reads.
local threads = {}
local body_template = os.getenv("WRK_BODY")
local run = os.getenv("WRK_RUN") or "0"
local counter = 0

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = os.getenv("WRK_METHOD") or "GET"
  for line in string.gmatch(os.getenv("WRK_HEADERS") or "", "[^\n]+") do
    local name, value = string.match(line, "^([^:]+):%s*(.*)$")
    if name then wrk.headers[name] = value end
  end
end

function request()
  if body_template == nil or body_template == "" then
    return wrk.format()
  end
  counter = counter + 1
  local body = string.gsub(body_template, "{n}", run .. "-" .. thread_id .. "-" .. counter)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
