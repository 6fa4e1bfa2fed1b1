-- wrk helper, loaded by the request scripts: counts the answers outside
-- 2xx in every thread and prints their sum as `non-2xx responses: N` when
-- the run ends. Each wrk thread runs its own Lua state and done() runs in
-- the main one, so the sum is read from every thread (thread:get).
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) non2xx = 0 end
response = function(status, headers, body)
  if status < 200 or status >= 300 then non2xx = non2xx + 1 end
end
done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + (thread:get("non2xx") or 0) end
  io.write(string.format("non-2xx responses: %d\n", total))
end
