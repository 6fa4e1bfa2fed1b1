-- wrk script: durable POST /v1/envelopes/batch, BATCH (default 100) copies
-- of post-envelope.lua's ~1 KB envelope per request. With RATE (envelopes
-- per second, over CONNECTIONS connections, default 64) each connection
-- pauses between its requests so that together they offer about RATE
-- (a little less: the pause does not count the answer's latency).
local batch = tonumber(os.getenv("BATCH") or "100")
local one = '{"type":"orders.approved","actor":"alice@example.com","subject":"order/7f3a2c91",' ..
  '"payload":{"order":{"id":"ord-7f3a2c91-4b8e-4d1a-9c6f-2e5b8a7d0c13","amount":1250.75,"currency":"EUR"},' ..
  '"customer":{"id":"cus-1234567890","tier":"gold","country":"DE","segment":"enterprise"},' ..
  '"lines":[{"sku":"SKU-0001","qty":2,"price":100.5,"name":"Widget, large, blue"},' ..
  '{"sku":"SKU-0002","qty":1,"price":1049.75,"name":"Gadget, premium edition"}],' ..
  '"approval":{"by":["alice@example.com","bob@example.com"],"policy":"four-eyes","level":2},' ..
  '"trace":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"},' ..
  '"note":"Customer requested split shipment; warehouse confirmed stock for both lines on the same day.",' ..
  '"tags":["priority","b2b","eu","quarter-end","audited"],' ..
  '"description":"Approved under the four-eyes policy after the second reviewer confirmed the delivery address, the tax identification number and the credit limit of the customer account; the warehouse reserved both lines and the carrier pickup is booked for the next business day before noon."}}'
local items = {}
for i = 1, batch do items[i] = one end
local rate = tonumber(os.getenv("RATE") or "0")
if rate > 0 then
  local pause_ms = tonumber(os.getenv("CONNECTIONS") or "64") * batch * 1000 / rate
  delay = function() return pause_ms end
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"envelopes":[' .. table.concat(items, ",") .. ']}'

-- Count non-2xx answers so a run that failed is visible.
local errors = 0
response = function(status, headers, body)
  if status < 200 or status >= 300 then errors = errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx responses: %d\n", errors))
end
