-- Acquire, for servers older than redis 7.0, which refuse SET with both NX
-- and GET: store the token ARGV[1] in KEYS[1] for ARGV[2] milliseconds if
-- the key is absent. When the key already holds this token (an earlier
-- attempt of the same call landed, its reply lost), restart its lifetime.
-- Returns 1 when the key holds the token on return, 0 otherwise.
local v = redis.call("get", KEYS[1])
if v == false then
	redis.call("set", KEYS[1], ARGV[1], "PX", ARGV[2])
	return 1
end
if v == ARGV[1] then
	redis.call("pexpire", KEYS[1], ARGV[2])
	return 1
end
return 0
