-- Extend: set the lifetime of KEYS[1] to ARGV[2] milliseconds if it still
-- holds the token ARGV[1]. Returns 1 when extended, 0 when the key is absent
-- or holds another token.
if redis.call("get", KEYS[1]) == ARGV[1] then
	return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0
