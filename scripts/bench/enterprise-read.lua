-- wrk script: GET /v1/segments/active (a read, no fsync) with the
-- enterprise identity headers, which a sidecar in plain mode ignores.
wrk.method = "GET"
wrk.headers["x-tenant-id"] = "tenant-7"
wrk.headers["x-principal-id"] = "bench@example.test"
wrk.headers["x-authn-method"] = "oidc"

local errors = 0
response = function(status, headers, body)
  if status < 200 or status >= 300 then errors = errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx responses: %d\n", errors))
end
