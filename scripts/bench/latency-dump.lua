-- wrk script wrapper: loads the script named by BASE_SCRIPT (a path from
-- the repository's root, e.g. scripts/bench/post-envelope.lua) and, after
-- its own summary, prints the latency distribution wrk measured as lines
-- `latency P MICROSECONDS` for P from 1 to 99.9 (scripts/bench/plots.sh
-- draws them).
dofile(os.getenv("BASE_SCRIPT"))
local base_done = done
done = function(summary, latency, requests)
  if base_done then base_done(summary, latency, requests) end
  for _, p in ipairs({1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99, 99.5, 99.9}) do
    io.write(string.format("latency %g %d\n", p, latency:percentile(p)))
  end
end
