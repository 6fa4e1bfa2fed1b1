-- wrk script: POST /v1/query/envelopes for one small page.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"orders.approved","limit":1}'
