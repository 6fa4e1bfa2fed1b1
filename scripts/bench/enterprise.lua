-- wrk script: durable POST /v1/envelopes with a small payload and the
-- enterprise identity headers (ignored by a sidecar in plain mode, so both
-- modes get byte-identical requests).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-tenant-id"] = "tenant-7"
wrk.headers["x-principal-id"] = "bench@example.test"
wrk.headers["x-authn-method"] = "oidc"
wrk.body = '{"type":"orders.approved","actor":"bench","payload":{"order":"7f3a2c91","amount":1250.75}}'

local errors = 0
response = function(status, headers, body)
  if status < 200 or status >= 300 then errors = errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx responses: %d\n", errors))
end
