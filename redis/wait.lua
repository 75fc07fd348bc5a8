-- Acquire, for a wait: as acquire.lua, store the token ARGV[1] in KEYS[1]
-- for ARGV[2] milliseconds if the key is absent, or restart its lifetime
-- if it holds the token already (an earlier attempt landed, its reply
-- lost). Returns -2 when the key holds the token on return; otherwise the
-- remaining lifetime of the holder's lock in milliseconds (PTTL: 0 or
-- more, or -1 for a key without expiry, which no lock is).
local v = redis.call("get", KEYS[1])
if v == false then
	redis.call("set", KEYS[1], ARGV[1], "PX", ARGV[2])
	return -2
end
if v == ARGV[1] then
	redis.call("pexpire", KEYS[1], ARGV[2])
	return -2
end
return redis.call("pttl", KEYS[1])
