-- wrk script for the edge bench (tests/perf/bench_edge.py): every connection is one viewer who
-- opens the live session page once, then polls the session's status JSON every WRK_POLL_MS.
--
-- Environment: WRK_PAGE_PATH, WRK_STATUS_PATH, WRK_POLL_MS (2000), WRK_PER_THREAD (connections per
-- wrk thread: wrk gives each thread connections / threads). `done` prints one JSON line.
-- WRK_BEAT_PATH (optional): the page's heartbeat (POST /s/<id>/watching). Every WRK_BEAT_EVERY-th poll
-- of a thread is a heartbeat instead, for one of the thread's viewers (a visitor cookie drawn from
-- WRK_PER_THREAD ids per thread) with a browser's User-Agent: with WRK_BEAT_EVERY = beat period / poll
-- period, each viewer beats about as often as the page's script does.
--
-- wrk's Lua runs per thread, not per connection, but at start every connection asks for its first
-- request once: the first WRK_PER_THREAD requests of a thread are the page loads, one per viewer,
-- each after a random delay within one poll interval (viewers arrive spread over it, not in the same
-- millisecond); every later request is a poll, WRK_POLL_MS after that connection's previous answer.
-- wrk measures latency from the request's first byte written, so the delay is not counted.
-- No response() callback: it would make wrk hand every response's headers and body to Lua, CPU
-- the server needs on a 2-core machine; statuses and X-Cache-Status come from nginx's access log.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  page_req = wrk.format("GET", os.getenv("WRK_PAGE_PATH"))
  poll_req = wrk.format("GET", os.getenv("WRK_STATUS_PATH"))
  poll_ms = tonumber(os.getenv("WRK_POLL_MS") or "2000")
  per_thread = tonumber(os.getenv("WRK_PER_THREAD"))
  beat_path = os.getenv("WRK_BEAT_PATH") or ""
  beat_every = tonumber(os.getenv("WRK_BEAT_EVERY") or "10")
  math.randomseed(os.time() * 100 + id)
  delays, pages, polls, beats = 0, 0, 0, 0
end

function delay()
  delays = delays + 1
  if delays <= per_thread then
    return math.random(0, poll_ms)
  end
  return poll_ms
end

function request()
  if pages < per_thread then
    pages = pages + 1
    return page_req
  end
  if beat_path ~= "" and (polls + beats + 1) % beat_every == 0 then
    beats = beats + 1
    local visitor = string.format("%016x%016x", id, math.random(1, per_thread))
    return wrk.format("POST", beat_path, {
      ["Cookie"] = "mm_vid=" .. visitor,
      ["Content-Length"] = "0",
      ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
    })
  end
  polls = polls + 1
  return poll_req
end

function done(summary, latency, requests)
  local all_pages, all_polls, all_beats = 0, 0, 0
  for _, thread in ipairs(threads) do
    all_pages = all_pages + thread:get("pages")
    all_polls = all_polls + thread:get("polls")
    all_beats = all_beats + thread:get("beats")
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "pages": %d, "polls": %d, "beats": %d, "non_2xx": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, all_pages, all_polls, all_beats, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
