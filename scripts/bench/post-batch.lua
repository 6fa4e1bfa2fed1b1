-- wrk script: durable POST /v1/envelopes/batch, BATCH (default 100) copies
-- of post-envelope.lua's ~1 KB envelope per request (that script is loaded
-- for the envelope, the method and headers, and the count of non-2xx
-- answers; run from the repository's root, as the bench scripts do). With
-- RATE (envelopes per second, over the THREADS wrk threads, default 2)
-- the requests follow a schedule: each thread sends its next request at
-- fixed intervals from its start, whatever the answers' latency (a
-- connection whose slot has passed sends at once), so the rate offered
-- is RATE as long as the connections in flight suffice; when the sidecar
-- cannot answer that fast, every connection sends as soon as it is
-- answered and the rate reached is what it can do.
dofile("scripts/bench/post-envelope.lua")
local batch = tonumber(os.getenv("BATCH") or "100")
local items = {}
for i = 1, batch do items[i] = wrk.body end
wrk.body = '{"envelopes":[' .. table.concat(items, ",") .. ']}'

local rate = tonumber(os.getenv("RATE") or "0")
if rate > 0 then
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } arxi_timespec;
    int clock_gettime(int clock, arxi_timespec *ts);
  ]]
  local CLOCK_MONOTONIC = 1
  local now = ffi.new("arxi_timespec")
  local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, now)
    return tonumber(now.tv_sec) * 1000 + tonumber(now.tv_nsec) / 1e6
  end
  -- This thread's share of the rate: one request every interval_ms.
  local interval_ms = batch * 1000 * tonumber(os.getenv("THREADS") or "2") / rate
  local due
  delay = function()
    local at = now_ms()
    due = due or at
    local wait = due - at
    due = due + interval_ms
    if wait > 0 then return wait end
    return 0
  end
end
