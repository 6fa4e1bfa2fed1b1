-- wrk script: durable POST /v1/envelopes under overload; counts answers by
-- status and 429s that lack Retry-After. Each thread writes its counts to
-- a file named by the ARXI_WRK_OUT prefix (wrk's threads have separate Lua
-- states; done() cannot see them).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"overload.bench","payload":{"order":{"id":"ord-7f3a2c91","amount":1250.75},"note":"overload run"}}'

local threads = {}
local counter = 0

setup = function(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

init = function(args)
  statuses = {}
  missing_retry_after = 0
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 429 and headers["retry-after"] == nil and headers["Retry-After"] == nil then
    missing_retry_after = missing_retry_after + 1
  end
end

done = function(summary, latency, requests)
  local totals = {}
  local missing = 0
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, count in pairs(counts) do
      totals[status] = (totals[status] or 0) + count
    end
    missing = missing + thread:get("missing_retry_after")
  end
  for status, count in pairs(totals) do
    io.write(string.format("status %d: %d\n", status, count))
  end
  io.write(string.format("429 without Retry-After: %d\n", missing))
end
