-- wrk script: GET /v1/segments/active (a read, no fsync) with the
-- enterprise identity headers, which a sidecar in plain mode ignores.
wrk.method = "GET"
wrk.headers["x-tenant-id"] = "tenant-7"
wrk.headers["x-principal-id"] = "bench@example.test"
wrk.headers["x-authn-method"] = "oidc"

-- Count non-2xx answers (every thread's) so a run that failed is visible.
dofile("scripts/bench/count-non2xx.lua")
