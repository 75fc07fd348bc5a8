-- Release: delete KEYS[1] if it still holds the token ARGV[1], and publish
-- on the channel of the key's name, to wake the waits for it.
-- Returns 1 when deleted, 0 when the key is absent or holds another token.
if redis.call("get", KEYS[1]) == ARGV[1] then
	redis.call("del", KEYS[1])
	redis.call("publish", KEYS[1], "")
	return 1
end
return 0
