-- wrk script: durable POST /v1/envelopes with a small payload and the
-- enterprise identity headers (ignored by a sidecar in plain mode, so both
-- modes get byte-identical requests).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-tenant-id"] = "tenant-7"
wrk.headers["x-principal-id"] = "bench@example.test"
wrk.headers["x-authn-method"] = "oidc"
wrk.body = '{"type":"orders.approved","actor":"bench","payload":{"order":"7f3a2c91","amount":1250.75}}'

-- Count non-2xx answers (every thread's) so a run that failed is visible.
dofile("scripts/bench/count-non2xx.lua")
