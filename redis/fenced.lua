-- Acquire with a fencing token: store the token ARGV[1] in KEYS[1] for
-- ARGV[2] milliseconds if the key is absent, and hand out the next fencing
-- token of the key, kept in KEYS[2] (in the same cluster slot) for ARGV[3]
-- milliseconds. The next token is the last one plus one, and never less
-- than the server's clock in microseconds, so that a counter lost (expired,
-- evicted, flushed, or missing on a replica promoted after a failover)
-- comes back ahead of every token handed out before, as long as the
-- server's clock does not step back.
-- Returns the fencing token when the key holds ARGV[1] on return (when it
-- already did, an earlier try of this acquire landed: its lifetime is
-- restarted and the current token returned), 0 otherwise.
local v = redis.call("get", KEYS[1])
if v == ARGV[1] then
	redis.call("pexpire", KEYS[1], ARGV[2])
	return tonumber(redis.call("get", KEYS[2]) or "0")
end
if v ~= false then
	return 0
end
local t = redis.call("time")
local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(redis.call("get", KEYS[2]) or "0")
if n < floor then
	n = floor
else
	n = n + 1
end
redis.call("set", KEYS[2], string.format("%.0f", n), "PX", ARGV[3])
redis.call("set", KEYS[1], ARGV[1], "PX", ARGV[2])
return n
