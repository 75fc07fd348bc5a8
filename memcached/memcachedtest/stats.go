package memcachedtest

import (
	"bytes"
	"strconv"
)

// This file holds the stats command and its counters.

// version is the server version that stats reports.
const version = "1.6.18-fake"

// counters are the command statistics reported by stats.
type counters struct {
	cmdGet, cmdSet, cmdTouch           uint64
	getHits, getMisses                 uint64
	deleteHits, deleteMisses           uint64
	casHits, casMisses, casBadval      uint64
	touchHits, touchMisses, totalItems uint64
}

// stats handles stats, which reports the general statistics. Its other
// forms (stats reset, stats settings, stats items, ...) are answered
// "ERROR", as memcached answers a statistics group it does not know.
func (s *Server) stats(toks []string, out *bytes.Buffer) {
	if len(toks) > 1 {
		out.WriteString("ERROR\r\n")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowSec()
	curr := 0
	for k, it := range s.items {
		if it.expired(now) {
			delete(s.items, k)
			continue
		}
		curr++
	}
	st := s.st
	stat := func(name string, v any) {
		out.WriteString("STAT " + name + " ")
		switch v := v.(type) {
		case string:
			out.WriteString(v)
		case int:
			out.WriteString(strconv.Itoa(v))
		case int64:
			out.WriteString(strconv.FormatInt(v, 10))
		case uint64:
			out.WriteString(strconv.FormatUint(v, 10))
		}
		out.WriteString("\r\n")
	}
	stat("pid", s.pid)
	stat("uptime", now-s.startSec)
	stat("time", now)
	stat("version", version)
	stat("pointer_size", 64)
	stat("curr_connections", len(s.conns))
	stat("total_connections", s.totalConns)
	stat("cmd_get", st.cmdGet)
	stat("cmd_set", st.cmdSet)
	stat("cmd_touch", st.cmdTouch)
	stat("get_hits", st.getHits)
	stat("get_misses", st.getMisses)
	stat("delete_misses", st.deleteMisses)
	stat("delete_hits", st.deleteHits)
	stat("cas_misses", st.casMisses)
	stat("cas_hits", st.casHits)
	stat("cas_badval", st.casBadval)
	stat("touch_hits", st.touchHits)
	stat("touch_misses", st.touchMisses)
	stat("limit_maxbytes", 64<<20)
	stat("threads", 1)
	stat("curr_items", curr)
	stat("total_items", st.totalItems)
	stat("evictions", 0)
	out.WriteString("END\r\n")
}
