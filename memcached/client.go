package memcached

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// This file is the wire side of the meta protocol: the few commands the
// meta backend sends, one at a time on a connection, each in one write,
// and the parsing of their replies.

// readBufferSize is the size of a connection's read buffer: replies are a
// line and, for a read-back, a value the size of a token.
const readBufferSize = 4096

// conn is a connection to one server.
type conn struct {
	nc  net.Conn
	r   *bufio.Reader
	buf []byte   // the command being sent
	srv int      // the server's index in the pool
	id  serverID // the server process, as learned when dialled
}

// serverID identifies a server process by its pid and the time it started
// (stats: pid, and time less uptime). memcached numbers cas ids from 1
// again when it restarts, so a cas id is only compared with the items of
// the process that gave it. The zero serverID means unknown.
type serverID struct{ pid, started int64 }

// status is the code of a meta command's reply.
type status uint8

const (
	stored    status = iota + 1 // HD: stored, or deleted
	notStored                   // NS: an add found the key taken
	exists                      // EX: the cas id did not match
	notFound                    // NF: no item
)

// replyError is an error line that the server answered a command with.
type replyError struct {
	cmd, line string
}

func (e *replyError) Error() string {
	if e.line == "ERROR" {
		return fmt.Sprintf("the server does not know the command %q: memcached 1.6 or later is needed for the meta protocol (New, over a gomemcache client, works with older servers)", e.cmd)
	}
	return fmt.Sprintf("%s: the server answered %q", e.cmd, e.line)
}

// inTransit reports whether a SERVER_ERROR: the server failed to carry out
// the command (out of memory, say), and a retry may succeed.
func (e *replyError) inTransit() bool { return strings.HasPrefix(e.line, "SERVER_ERROR") }

func (cn *conn) close() { cn.nc.Close() }

// send writes cn.buf, the whole command, in one write.
func (cn *conn) send() error {
	_, err := cn.nc.Write(cn.buf)
	return err
}

// line reads one reply line, without its "\r\n". The slice is valid until
// the next read.
func (cn *conn) line(cmd string) ([]byte, error) {
	l, err := cn.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, &replyError{cmd, "a line longer than " + strconv.Itoa(readBufferSize) + " bytes"}
	case err != nil:
		return nil, err
	case len(l) < 2 || l[len(l)-2] != '\r':
		return nil, &replyError{cmd, string(l)}
	}
	return l[:len(l)-2], nil
}

// command starts a command line in cn.buf: "verb key".
func (cn *conn) command(verb, key string) {
	b := append(cn.buf[:0], verb...)
	b = append(b, ' ')
	cn.buf = append(b, key...)
}

// flag appends a flag with a number to the command line.
func (cn *conn) flag(f byte, n uint64) {
	cn.buf = strconv.AppendUint(append(cn.buf, ' ', f), n, 10)
}

// store sends "ms key <len(value)> T<exp> [ME] [C<cas>] c" and value, and
// returns the reply's status, and the new cas id when it is stored. With add,
// the item is stored only if the key is free; otherwise cas must be the
// item's cas id: never 0, which memcached would take for no cas id at all.
func (cn *conn) store(key, value string, exp int32, add bool, cas uint64) (status, uint64, error) {
	if !add && cas == 0 {
		return 0, 0, errNoCAS
	}
	cn.command("ms", key)
	cn.buf = strconv.AppendInt(append(cn.buf, ' '), int64(len(value)), 10)
	cn.buf = strconv.AppendInt(append(cn.buf, " T"...), int64(exp), 10)
	if add {
		cn.buf = append(cn.buf, " ME"...)
	} else {
		cn.flag('C', cas)
	}
	cn.buf = append(cn.buf, " c\r\n"...)
	cn.buf = append(cn.buf, value...)
	cn.buf = append(cn.buf, "\r\n"...)
	if err := cn.send(); err != nil {
		return 0, 0, err
	}
	l, err := cn.line("ms")
	if err != nil {
		return 0, 0, err
	}
	st, rest, err := code("ms", l)
	if err != nil || st != stored {
		return st, 0, err
	}
	return st, casFlag(rest), nil
}

// delete sends "md key C<cas>": the item is deleted only if its cas id is
// still cas, never 0.
func (cn *conn) delete(key string, cas uint64) (status, error) {
	if cas == 0 {
		return 0, errNoCAS
	}
	cn.command("md", key)
	cn.flag('C', cas)
	cn.buf = append(cn.buf, "\r\n"...)
	if err := cn.send(); err != nil {
		return 0, err
	}
	l, err := cn.line("md")
	if err != nil {
		return 0, err
	}
	st, _, err := code("md", l)
	return st, err
}

// read sends "mg key v c" and reports whether the item is there, whether
// its value is token, and its cas id.
func (cn *conn) read(key, token string) (found, ours bool, cas uint64, err error) {
	cn.command("mg", key)
	cn.buf = append(cn.buf, " v c\r\n"...)
	if err := cn.send(); err != nil {
		return false, false, 0, err
	}
	l, err := cn.line("mg")
	if err != nil {
		return false, false, 0, err
	}
	if string(l) == "EN" {
		return false, false, 0, nil
	}
	rest, ok := bytes.CutPrefix(l, []byte("VA "))
	if !ok {
		return false, false, 0, unexpected("mg", l)
	}
	size, rest, _ := bytes.Cut(rest, []byte(" "))
	n, err := strconv.Atoi(string(size))
	if err != nil || n < 0 {
		return false, false, 0, unexpected("mg", l)
	}
	cas = casFlag(rest)
	if n == len(token) && n+2 <= readBufferSize {
		v, err := cn.r.Peek(n + 2)
		if err != nil {
			return false, false, 0, err
		}
		ours = string(v[:n]) == token && string(v[n:]) == "\r\n"
	}
	if _, err := cn.r.Discard(n + 2); err != nil {
		return false, false, 0, err
	}
	return true, ours, cas, nil
}

// noop sends "mn", which a server that knows the meta commands answers
// with "MN".
func (cn *conn) noop() error {
	cn.buf = append(cn.buf[:0], "mn\r\n"...)
	if err := cn.send(); err != nil {
		return err
	}
	l, err := cn.line("mn")
	if err != nil {
		return err
	}
	if string(l) != "MN" {
		return unexpected("mn", l)
	}
	return nil
}

// identify asks the server for its statistics, and returns the identity
// of its process. A server whose statistics lack pid, time or uptime gets
// the zero serverID: its cas ids are never trusted past the read that
// returned them.
func (cn *conn) identify() (serverID, error) {
	cn.buf = append(cn.buf[:0], "stats\r\n"...)
	if err := cn.send(); err != nil {
		return serverID{}, err
	}
	var pid, now, uptime int64 = -1, -1, -1
	for {
		l, err := cn.line("stats")
		if err != nil {
			return serverID{}, err
		}
		if string(l) == "END" {
			break
		}
		rest, ok := bytes.CutPrefix(l, []byte("STAT "))
		if !ok {
			return serverID{}, unexpected("stats", l)
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
		return serverID{}, nil
	}
	return serverID{pid: pid, started: now - uptime}, nil
}

// code parses the status code at the start of a reply line to a storage or
// delete command, and returns the rest of the line (its flags).
func code(cmd string, l []byte) (status, []byte, error) {
	if len(l) < 2 || (len(l) > 2 && l[2] != ' ') {
		return 0, nil, unexpected(cmd, l)
	}
	var st status
	switch string(l[:2]) {
	case "HD":
		st = stored
	case "NS":
		st = notStored
	case "EX":
		st = exists
	case "NF":
		st = notFound
	default:
		return 0, nil, unexpected(cmd, l)
	}
	return st, l[2:], nil
}

// casFlag returns the number of the c flag among the flags of a reply, or
// 0.
func casFlag(flags []byte) uint64 {
	for len(flags) > 0 {
		var f []byte
		f, flags, _ = bytes.Cut(bytes.TrimLeft(flags, " "), []byte(" "))
		if len(f) > 1 && f[0] == 'c' {
			n, err := strconv.ParseUint(string(f[1:]), 10, 64)
			if err != nil {
				return 0
			}
			return n
		}
	}
	return 0
}

// unexpected is the error of a reply line that is not a reply to cmd: an
// error line, or something the client cannot read.
func unexpected(cmd string, l []byte) error {
	return &replyError{cmd: cmd, line: string(l)}
}
