package mc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file is the wire side of the meta protocol: the few commands the
// client sends, each tagged with an opaque number that the server echoes,
// and the parsing of their replies.

// readBufferSize is the size of a connection's read buffer: replies are a
// line and, for a read, a value the size of a token.
const readBufferSize = 4096

// ServerID identifies a server process by its pid and the time it started
// (stats: pid, and time less uptime). memcached numbers cas ids from 1
// again when it restarts, so a cas id is only compared with the items of
// the process that gave it. The zero ServerID means unknown.
type ServerID struct{ Pid, Started int64 }

// Status is the code of a meta command's reply. Package memcached's lock
// algorithm reports in it, over either of its protocols, what a
// compare-and-swap of a lock found (see its protocol.swapOnce).
type Status uint8

const (
	Stored    Status = iota + 1 // HD: stored, or deleted
	NotStored                   // NS: an add found the key taken
	Exists                      // EX: the cas id did not match
	NotFound                    // NF: no item
)

// ErrNoCAS reports a server that gives no cas ids (memcached -C): it
// cannot check a lock's owner.
var ErrNoCAS = errors.New("the server gives no cas ids (memcached -C?): it cannot check a lock's owner")

// ReplyError is an error line that the server answered a command with, or
// a reply the client cannot read. After one, the connection is closed.
type ReplyError struct {
	Cmd, Line string
}

func (e *ReplyError) Error() string {
	if e.Line == "ERROR" {
		return fmt.Sprintf("the server does not know the command %q: memcached 1.6 or later is needed for the meta protocol (New, over a gomemcache client, works with older servers)", e.Cmd)
	}
	return fmt.Sprintf("%s: the server answered %q", e.Cmd, e.Line)
}

// InTransit reports whether the command's outcome is unknown: anything
// but an ERROR (an unknown command) or a CLIENT_ERROR (a command the
// server refused to run). A SERVER_ERROR, a refused connection, a reply
// the client cannot read: a retry may succeed.
func (e *ReplyError) InTransit() bool {
	if strings.Contains(e.Line, "Too many open connections") {
		return true
	}
	return e.Line != "ERROR" && !strings.HasPrefix(e.Line, "ERROR ") && !strings.HasPrefix(e.Line, "CLIENT_ERROR")
}

func unexpected(cmd string, l []byte) error { return &ReplyError{Cmd: cmd, Line: string(l)} }

// kind is the command a request sent, which tells how its reply is read.
type kind uint8

const (
	kindStore  kind = iota + 1 // ms: HD|NS|EX|NF [c<cas>]
	kindDelete                 // md: HD|NF|EX
	kindGet                    // mg: VA <n> c<cas> / value, or EN
	kindNoop                   // mn: MN
	kindArith                  // ma: VA <n> / value, or NF
	kindStats                  // stats: STAT lines, then END
)

func (k kind) String() string {
	switch k {
	case kindStore:
		return "ms"
	case kindDelete:
		return "md"
	case kindGet:
		return "mg"
	case kindArith:
		return "ma"
	case kindStats:
		return "stats"
	}
	return "mn"
}

// appendStore appends "ms key <len(value)> T<exp> ME|C<cas> c O<op>" and
// value. With add, the item is stored only if the key is free; otherwise
// only if its cas id is cas.
func appendStore(b []byte, key, value string, exp int32, add bool, cas uint64, op uint32) []byte {
	b = append(b, "ms "...)
	b = append(b, key...)
	b = strconv.AppendInt(append(b, ' '), int64(len(value)), 10)
	b = strconv.AppendInt(append(b, " T"...), int64(exp), 10)
	if add {
		b = append(b, " ME"...)
	} else {
		b = strconv.AppendUint(append(b, " C"...), cas, 10)
	}
	b = strconv.AppendUint(append(b, " c O"...), uint64(op), 10)
	b = append(b, "\r\n"...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// appendDelete appends "md key C<cas> O<op>".
func appendDelete(b []byte, key string, cas uint64, op uint32) []byte {
	b = append(b, "md "...)
	b = append(b, key...)
	b = strconv.AppendUint(append(b, " C"...), cas, 10)
	b = strconv.AppendUint(append(b, " O"...), uint64(op), 10)
	return append(b, "\r\n"...)
}

// appendGet appends "mg key v c O<op>".
func appendGet(b []byte, key string, op uint32) []byte {
	b = append(b, "mg "...)
	b = append(b, key...)
	b = strconv.AppendUint(append(b, " v c O"...), uint64(op), 10)
	return append(b, "\r\n"...)
}

// appendIncr appends "ma key T<life> v O<op>", an increment by one that
// also sets the item's expiration to life, or, with create, "ma key
// N<life> J<initial> T<life> v O<op>", which creates the item with the
// value initial (and expiration life) if it is missing.
func appendIncr(b []byte, key string, life int32, create bool, initial uint64, op uint32) []byte {
	b = append(b, "ma "...)
	b = append(b, key...)
	if create {
		b = strconv.AppendInt(append(b, " N"...), int64(life), 10)
		b = strconv.AppendUint(append(b, " J"...), initial, 10)
	}
	b = strconv.AppendInt(append(b, " T"...), int64(life), 10)
	b = strconv.AppendUint(append(b, " v O"...), uint64(op), 10)
	return append(b, "\r\n"...)
}

// reply is what a reply said.
type reply struct {
	st    Status
	cas   uint64
	n     uint64 // ma: the value; stats: the server's time
	found bool   // mg: the item is there
	ours  bool   // mg: its value is the request's token
}

// readReply reads the reply to req from r: one line, and a value for a
// read that found the item.
func readReply(r *bufio.Reader, req *request) (reply, error) {
	cmd := req.kind.String()
	l, err := readLine(r, cmd)
	if err != nil {
		return reply{}, err
	}
	switch req.kind {
	case kindStats:
		return readStats(r, l)
	case kindArith:
		rest, ok := bytes.CutPrefix(l, []byte("VA "))
		if !ok {
			break // HD, NF...: read below
		}
		size, rest, _ := bytes.Cut(rest, []byte(" "))
		n, err := strconv.Atoi(string(size))
		if err != nil || n <= 0 || n > 20 {
			return reply{}, unexpected(cmd, l)
		}
		if err := checkOpaque(rest, req.op); err != nil {
			return reply{}, err
		}
		v, err := r.Peek(n + 2)
		if err != nil {
			return reply{}, err
		}
		value, ok := number(v[:n])
		if !ok || string(v[n:]) != "\r\n" {
			return reply{}, &ReplyError{Cmd: cmd, Line: "a value that is not a number: " + strconv.Quote(string(v))}
		}
		if _, err := r.Discard(n + 2); err != nil {
			return reply{}, err
		}
		return reply{st: Stored, n: value}, nil
	case kindNoop:
		if string(l) != "MN" {
			return reply{}, unexpected(cmd, l)
		}
		return reply{}, nil
	case kindGet:
		if rest, ok := bytes.CutPrefix(l, []byte("EN")); ok && (len(rest) == 0 || rest[0] == ' ') {
			return reply{}, checkOpaque(rest, req.op)
		}
		rest, ok := bytes.CutPrefix(l, []byte("VA "))
		if !ok {
			return reply{}, unexpected(cmd, l)
		}
		size, rest, _ := bytes.Cut(rest, []byte(" "))
		n, err := strconv.Atoi(string(size))
		if err != nil || n < 0 {
			return reply{}, unexpected(cmd, l)
		}
		if err := checkOpaque(rest, req.op); err != nil {
			return reply{}, err
		}
		rp := reply{found: true, cas: flag(rest, 'c')}
		if n == len(req.token) && n+2 <= readBufferSize {
			v, err := r.Peek(n + 2)
			if err != nil {
				return reply{}, err
			}
			rp.ours = string(v[:n]) == req.token && string(v[n:]) == "\r\n"
		}
		if _, err := r.Discard(n + 2); err != nil {
			return reply{}, err
		}
		return rp, nil
	}
	if len(l) < 2 || (len(l) > 2 && l[2] != ' ') {
		return reply{}, unexpected(cmd, l)
	}
	var rp reply
	switch string(l[:2]) {
	case "HD":
		rp.st = Stored
	case "NS":
		rp.st = NotStored
	case "EX":
		rp.st = Exists
	case "NF":
		rp.st = NotFound
	default:
		return reply{}, unexpected(cmd, l)
	}
	if err := checkOpaque(l[2:], req.op); err != nil {
		return reply{}, err
	}
	if rp.st == Stored {
		rp.cas = flag(l[2:], 'c')
	}
	return rp, nil
}

// readStats reads the rest of a reply to "stats", whose first line is l,
// and returns the server's time, in Unix seconds, in n.
func readStats(r *bufio.Reader, l []byte) (reply, error) {
	now := int64(-1)
	for string(l) != "END" {
		rest, ok := bytes.CutPrefix(l, []byte("STAT "))
		if !ok {
			return reply{}, unexpected("stats", l)
		}
		if v, ok := bytes.CutPrefix(rest, []byte("time ")); ok {
			if n, err := strconv.ParseInt(string(v), 10, 64); err == nil && n > 0 {
				now = n
			}
		}
		var err error
		if l, err = readLine(r, "stats"); err != nil {
			return reply{}, err
		}
	}
	if now < 0 {
		return reply{}, &ReplyError{Cmd: "stats", Line: "no time among the statistics"}
	}
	return reply{n: uint64(now)}, nil
}

// errOutOfStep reports a reply that echoes another command's opaque
// number: replies were lost on the way (a proxy may drop them), and the
// outcome of every command on the connection is unknown.
var errOutOfStep = errors.New("a reply echoed the opaque number of another command: the connection lost replies")

// checkOpaque fails a reply whose flags carry an opaque number other than
// op. (memcached 1.6 echoes the opaque on every meta reply; a reply
// without one is taken in order.)
func checkOpaque(flags []byte, op uint32) error {
	for f := range bytes.FieldsSeq(flags) {
		if n, ok := number(f[1:]); f[0] == 'O' && (!ok || n != uint64(op)) {
			return errOutOfStep
		}
	}
	return nil
}

// readLine reads one reply line, without its "\r\n". The slice is valid
// until the next read.
func readLine(r *bufio.Reader, cmd string) ([]byte, error) {
	l, err := r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, &ReplyError{cmd, "a line longer than " + strconv.Itoa(readBufferSize) + " bytes"}
	case err != nil:
		return nil, err
	case len(l) < 2 || l[len(l)-2] != '\r':
		return nil, &ReplyError{cmd, string(l)}
	}
	return l[:len(l)-2], nil
}

// flag returns the number of flag f among the flags of a reply, or 0.
func flag(flags []byte, f byte) uint64 {
	for t := range bytes.FieldsSeq(flags) {
		if t[0] == f {
			n, _ := number(t[1:])
			return n
		}
	}
	return 0
}

// identify asks the server for its statistics on a connection not yet
// shared, and returns the identity of its process. A server whose
// statistics lack pid, time or uptime gets the zero ServerID: its cas ids
// are never trusted past the read that returned them.
func identify(w interface{ Write([]byte) (int, error) }, r *bufio.Reader) (ServerID, error) {
	if _, err := w.Write([]byte("stats\r\n")); err != nil {
		return ServerID{}, err
	}
	var pid, now, uptime int64 = -1, -1, -1
	for {
		l, err := readLine(r, "stats")
		if err != nil {
			return ServerID{}, err
		}
		if string(l) == "END" {
			break
		}
		rest, ok := bytes.CutPrefix(l, []byte("STAT "))
		if !ok {
			return ServerID{}, unexpected("stats", l)
		}
		name, value, _ := bytes.Cut(rest, []byte(" "))
		var dst *int64
		switch string(name) {
		case "pid":
			dst = &pid
		case "time":
			dst = &now
		case "uptime":
			dst = &uptime
		default:
			continue
		}
		if n, err := strconv.ParseInt(string(value), 10, 64); err == nil {
			*dst = n
		}
	}
	if pid < 0 || now < 0 || uptime < 0 {
		return ServerID{}, nil
	}
	return ServerID{Pid: pid, Started: now - uptime}, nil
}

// number parses a decimal number of at most 19 digits.
func number(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
