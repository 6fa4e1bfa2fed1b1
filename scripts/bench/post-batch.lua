-- wrk script: durable POST /v1/envelopes/batch, BATCH (default 100) copies
-- of post-envelope.lua's ~1 KB envelope per request (that script is loaded
-- for the envelope, the method and headers, and the count of non-2xx
-- answers; run from the repository's root, as the bench scripts do). With
-- RATE (envelopes per second, over CONNECTIONS connections, default 64)
-- each connection pauses between its requests so that together they offer
-- about RATE (a little less: the pause does not count the answer's
-- latency).
dofile("scripts/bench/post-envelope.lua")
local batch = tonumber(os.getenv("BATCH") or "100")
local items = {}
for i = 1, batch do items[i] = wrk.body end
wrk.body = '{"envelopes":[' .. table.concat(items, ",") .. ']}'

local rate = tonumber(os.getenv("RATE") or "0")
if rate > 0 then
  local pause_ms = tonumber(os.getenv("CONNECTIONS") or "64") * batch * 1000 / rate
  delay = function() return pause_ms end
end
