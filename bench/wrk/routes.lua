-- wrk script for bench/load.py: one API route per run, as a booking integration calls it.
--
--   wrk -t2 -c8 -d12s -s bench/wrk/routes.lua http://127.0.0.1:PORT -- API_KEY ROUTE IDS_FILE THREADS
--
-- IDS_FILE holds "device <uuid>" and "code <uuid>" lines (shuffled by load.py, so consecutive
-- requests touch different locks). Each request picks the next id for its thread; creates and
-- updates carry a name no other request uses, so every one is a real write. done() prints one
-- "RESULT {json}" line, and "FIRST_ERROR ..." when any answer was not 2xx.

local threads = {}

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  api_key, route, threads_count = args[1], args[2], tonumber(args[4])
  devices, codes = {}, {}
  for line in io.lines(args[3]) do
    local kind, id = line:match("^(%a+) (%S+)$")
    if kind == "device" then
      table.insert(devices, id)
    elseif kind == "code" then
      table.insert(codes, id)
    end
  end
  wrk.headers["Authorization"] = "Bearer " .. api_key
  wrk.headers["Content-Type"] = "application/json"
  sent = 0
  non2xx = 0
  first_error = ""
end

-- The n-th request of this thread gets the n-th of its share of the ids: the threads interleave,
-- so two threads never start on the same id.
local function pick(ids)
  return ids[(sent * threads_count + thread_number) % #ids + 1]
end

local function unique_name(prefix)
  return string.format("%s %d-%d", prefix, thread_number, sent)
end

local builders = {
  -- The baselines (bench/load_urls.py): the same request as access_codes/get, to a bare view and
  -- to a one-row ORM view.
  ["baseline/bare"] = function()
    return wrk.format("POST", "/bench/bare", nil,
      string.format('{"access_code_id": "%s"}', pick(codes)))
  end,
  ["baseline/orm_row"] = function()
    return wrk.format("POST", "/bench/orm_row", nil,
      string.format('{"access_code_id": "%s"}', pick(codes)))
  end,
  ["devices/list"] = function()
    return wrk.format("POST", "/api/devices/list", nil, "{}")
  end,
  ["access_codes/list"] = function()
    -- GET with a query string, as Seam's SDK sends it.
    return wrk.format("GET", "/api/access_codes/list?device_id=" .. pick(devices))
  end,
  ["access_codes/get"] = function()
    return wrk.format("POST", "/api/access_codes/get", nil,
      string.format('{"access_code_id": "%s"}', pick(codes)))
  end,
  ["access_codes/update"] = function()
    return wrk.format("POST", "/api/access_codes/update", nil,
      string.format('{"access_code_id": "%s", "name": "%s"}', pick(codes), unique_name("Renamed")))
  end,
  ["access_codes/create"] = function()
    -- A stay next month; Latchkey picks the PIN, so no two creates ask for the same one.
    return wrk.format("POST", "/api/access_codes/create", nil, string.format(
      '{"device_id": "%s", "name": "%s", "starts_at": "2030-01-10T16:00:00Z", "ends_at": "2030-01-13T11:00:00Z"}',
      pick(devices), unique_name("Load guest")))
  end,
}

function request()
  local built = builders[route]()
  sent = sent + 1
  return built
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_error == "" then
      first_error = status .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local non2xx_total, error_text = 0, ""
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + thread:get("non2xx")
    if error_text == "" then
      error_text = thread:get("first_error")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"non2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, non2xx_total, e.connect, e.read, e.write, e.timeout))
  if error_text ~= "" then
    io.write("FIRST_ERROR " .. error_text:gsub("\n", " ") .. "\n")
  end
end
