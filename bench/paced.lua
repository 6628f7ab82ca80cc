-- wrk script: about RATE requests/s in all (env RATE, default 10000), spread
-- over wrk's threads (env THREADS, default 2). Each thread keeps a timetable of
-- one slot per request and delays each request until its slot; wrk's delay is
-- in whole milliseconds, so a request may go up to 1 ms early, never late
-- unless the server is.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } paced_timespec;
int clock_gettime(int clk, paced_timespec *ts);
]]
local ts = ffi.new("paced_timespec")
local function now_ms()
	ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
	return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local rate = tonumber(os.getenv("RATE") or "10000")
local threads = tonumber(os.getenv("THREADS") or "2")
local gap = 1000 * threads / rate -- ms between this thread's requests
local next_t

function delay()
	local now = now_ms()
	if not next_t then
		next_t = now
	end
	next_t = next_t + gap
	local d = next_t - now
	if d < 0 then
		return 0
	end
	return math.floor(d)
end
