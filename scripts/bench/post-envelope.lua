-- wrk script: durable POST /v1/envelopes with a ~1 KB payload.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"orders.approved","actor":"alice@example.com","subject":"order/7f3a2c91",' ..
  '"payload":{"order":{"id":"ord-7f3a2c91-4b8e-4d1a-9c6f-2e5b8a7d0c13","amount":1250.75,"currency":"EUR"},' ..
  '"customer":{"id":"cus-1234567890","tier":"gold","country":"DE","segment":"enterprise"},' ..
  '"lines":[{"sku":"SKU-0001","qty":2,"price":100.5,"name":"Widget, large, blue"},' ..
  '{"sku":"SKU-0002","qty":1,"price":1049.75,"name":"Gadget, premium edition"}],' ..
  '"approval":{"by":["alice@example.com","bob@example.com"],"policy":"four-eyes","level":2},' ..
  '"trace":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"},' ..
  '"note":"Customer requested split shipment; warehouse confirmed stock for both lines on the same day.",' ..
  '"tags":["priority","b2b","eu","quarter-end","audited"],' ..
  '"description":"Approved under the four-eyes policy after the second reviewer confirmed the delivery address, the tax identification number and the credit limit of the customer account; the warehouse reserved both lines and the carrier pickup is booked for the next business day before noon."}}'

-- Count non-2xx answers (every thread's) so a run that failed is visible.
dofile("scripts/bench/count-non2xx.lua")
