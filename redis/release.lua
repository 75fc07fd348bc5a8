-- Release: delete KEYS[1] if it still holds the token ARGV[1].
-- Returns 1 when deleted, 0 when the key is absent or holds another token.
if redis.call("get", KEYS[1]) == ARGV[1] then
	return redis.call("del", KEYS[1])
end
return 0
