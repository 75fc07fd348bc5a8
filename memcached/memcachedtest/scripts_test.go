package memcachedtest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The protocol scripts: requests and the replies memcached 1.6 gives them,
// run against the fake and, with LOCK_TEST_MEMCACHED_URL, against a real
// memcached, whose replies the fake's must equal.

// step is one request of a protocol script and the reply memcached 1.6
// gives. In a request, "{cas}" stands for the last CAS id seen on the
// connection (in a VALUE line, or the c flag of a meta reply), and
// "{oldcas}" for the one seen before it. In a reply, CAS ids are written
// "#1", "#2", ... in order of first appearance ("c#1" in meta replies).
type step struct {
	req, want string
}

type script struct {
	name  string
	steps []step
}

// protocolScripts returns request/reply scripts for keys starting with
// prefix: the commands that the memcached backend and its tests send. The
// replies were taken from memcached 1.6.18; none depends on timing.
func protocolScripts(prefix string) []script {
	const (
		badFormat = "CLIENT_ERROR bad command line format\r\n"
		badChunk  = "CLIENT_ERROR bad data chunk\r\n"
		tooLarge  = "SERVER_ERROR object too large for cache\r\n"
		usage     = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
	)
	future := strconv.FormatInt(time.Now().Unix()+1000, 10)
	long := strings.Repeat("k", 251)
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}

	var scripts []script
	add := func(name string, steps ...step) {
		p := prefix + "-" + name + "-"
		r := strings.NewReplacer("$A", p+"A", "$B", p+"B", "$C", p+"C", "$D", p+"D", "$E", p+"E",
			"$F", p+"F", "$G", p+"G", "$H", p+"H", "$M", p+"M", "$L", long, "{future}", future)
		for i := range steps {
			steps[i].req = r.Replace(steps[i].req)
			steps[i].want = r.Replace(steps[i].want)
		}
		scripts = append(scripts, script{name, steps})
	}

	add("storage",
		step{"add $A 0 300 5\r\nhello\r\n", "STORED\r\n"},
		step{"gets $A\r\n", "VALUE $A 0 5 #1\r\nhello\r\nEND\r\n"},
		step{"add $A 0 300 1\r\nx\r\n", "NOT_STORED\r\n"},
		step{"add $B 7 300 3\r\nbye\r\n", "STORED\r\n"},
		step{"gets $A $B $A $M\r\n", "VALUE $A 0 5 #1\r\nhello\r\nVALUE $B 7 3 #2\r\nbye\r\nVALUE $A 0 5 #1\r\nhello\r\nEND\r\n"},
		step{"delete $A\r\n", "DELETED\r\n"},
		step{"delete $A\r\n", "NOT_FOUND\r\n"},
		step{"gets $A\r\n", "END\r\n"},
		step{"add $A 0 300 4\r\na\r\nb\r\n", "STORED\r\n"},
		step{"gets $A\r\n", "VALUE $A 0 4 #3\r\na\r\nb\r\nEND\r\n"},
		step{"add $C 0 300 0\r\n\r\n", "STORED\r\n"},
		step{"gets $C\r\n", "VALUE $C 0 0 #4\r\n\r\nEND\r\n"},
		step{"add $D 0 300 256\r\n" + string(binary) + "\r\n", "STORED\r\n"},
		step{"gets $D\r\n", "VALUE $D 0 256 #5\r\n" + string(binary) + "\r\nEND\r\n"},
		step{"add $E 0 300 1\r\n1\r\ngets $E\r\ndelete $E\r\ngets $E\r\n", "STORED\r\nVALUE $E 0 1 #6\r\n1\r\nEND\r\nDELETED\r\nEND\r\n"},
	)

	add("cas",
		step{"add $A 0 300 1\r\na\r\n", "STORED\r\n"},
		step{"gets $A\r\n", "VALUE $A 0 1 #1\r\na\r\nEND\r\n"},
		step{"cas $A 0 300 1 {cas}\r\nb\r\n", "STORED\r\n"},
		step{"cas $A 0 300 1 {cas}\r\nc\r\n", "EXISTS\r\n"},
		step{"cas $A 0 300 1 0\r\nc\r\n", "EXISTS\r\n"},
		step{"cas $M 0 300 1 1\r\nc\r\n", "NOT_FOUND\r\n"},
		step{"gets $A\r\n", "VALUE $A 0 1 #2\r\nb\r\nEND\r\n"},
		step{"cas $A 3 300 1 {cas}\r\nc\r\n", "STORED\r\n"},
		step{"gets $A\r\n", "VALUE $A 3 1 #3\r\nc\r\nEND\r\n"},
		step{"cas $A 0 -1 1 {cas}\r\nd\r\n", "STORED\r\n"},
		step{"gets $A\r\n", "END\r\n"},
		step{"cas $A 0 300 1 {cas}\r\ne\r\n", "NOT_FOUND\r\n"},
		step{"add $A 0 300 1\r\nf\r\n", "STORED\r\n"},
		step{"gets $A\r\n", "VALUE $A 0 1 #4\r\nf\r\nEND\r\n"},
	)

	add("expiry",
		step{"add $A 0 -1 1\r\na\r\n", "STORED\r\n"},
		step{"gets $A\r\n", "END\r\n"},
		step{"add $A 0 300 1\r\nb\r\n", "STORED\r\n"},
		step{"gets $A\r\n", "VALUE $A 0 1 #1\r\nb\r\nEND\r\n"},
		step{"add $B 0 2592000 1\r\na\r\n", "STORED\r\n"},
		step{"gets $B\r\n", "VALUE $B 0 1 #2\r\na\r\nEND\r\n"},
		step{"add $C 0 2592001 1\r\na\r\n", "STORED\r\n"},
		step{"gets $C\r\n", "END\r\n"},
		step{"add $D 0 1000000000 1\r\na\r\n", "STORED\r\n"},
		step{"gets $D\r\n", "END\r\n"},
		step{"add $E 0 {future} 1\r\na\r\n", "STORED\r\n"},
		step{"gets $E\r\n", "VALUE $E 0 1 #3\r\na\r\nEND\r\n"},
		step{"add $F 0 99999999999 1\r\na\r\n", "STORED\r\n"},
		step{"gets $F\r\n", "END\r\n"},
		step{"add $G 0 -99999999999 1\r\na\r\n", "STORED\r\n"},
		step{"gets $G\r\n", "END\r\n"},
		step{"add $H 0 4294967596 1\r\na\r\n", "STORED\r\n"},
		step{"gets $H\r\n", "VALUE $H 0 1 #4\r\na\r\nEND\r\n"},
		step{"cas $H 0 1000000000 1 {cas}\r\na\r\n", "STORED\r\n"},
		step{"gets $H\r\n", "END\r\n"},
		step{"gets $E\r\n", "VALUE $E 0 1 #3\r\na\r\nEND\r\n"},
		step{"cas $E 0 0 1 {cas}\r\na\r\n", "STORED\r\n"},
		step{"gets $E\r\n", "VALUE $E 0 1 #5\r\na\r\nEND\r\n"},
	)

	add("errors",
		step{"add $L 0 0 1\r\nx\r\n", badFormat + "ERROR\r\n"},
		step{"cas $L 0 0 1 1\r\nx\r\n", badFormat + "ERROR\r\n"},
		step{"gets $L\r\n", badFormat},
		step{"add $A 0 300 1\r\na\r\n", "STORED\r\n"},
		step{"gets $A $L $A\r\n", badFormat},
		step{"delete $L\r\n", badFormat},
		step{"add $B 0 0 3\r\nabcd\r\n", badChunk + "ERROR\r\n"},
		step{"add $B 0 0 3\r\nab\r\n\r\n", badChunk + "ERROR\r\n"},
		step{"add $B 0 0 1\r\nab\n", badChunk},
		step{"gets $B\r\n", "END\r\n"},
		step{"add $B 0 0 -1\r\nab\r\n", badFormat + "ERROR\r\n"},
		step{"add $B x 0 1\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"add $B -1 0 1\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"add $B 0 5x 1\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"add $B 0 0 x\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"add $B 18446744073709551616 0 1\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"add $B 0 0\r\n", "ERROR\r\n"},
		step{"add $B 0 0 1 noreply extra\r\na\r\n", "ERROR\r\nERROR\r\n"},
		step{"add $B 0 300 1 foo\r\na\r\n", "STORED\r\n"},
		step{"cas $B 0 0 1\r\na\r\n", "ERROR\r\nERROR\r\n"},
		step{"cas $B 0 0 1 x\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"cas $B 0 0 1 -1\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"foo\r\n", "ERROR\r\n"},
		step{"\r\n", "ERROR\r\n"},
		step{"   \r\n", "ERROR\r\n"},
		step{"GETS $B\r\n", "ERROR\r\n"},
		step{"gets\r\n", "ERROR\r\n"},
		step{"delete\r\n", "ERROR\r\n"},
		step{"delete $B 5\r\n", usage},
		step{"delete $B noreply extra\r\n", usage},
		step{"delete $B 0\r\n", "DELETED\r\n"},
		step{"stats nosuchgroup\r\n", "ERROR\r\n"},
		step{"gets $A\r\r\n", "END\r\n"},
		step{"add $C 4294967297 300 1\r\na\r\n", "STORED\r\n"},
		step{"gets $C\r\n", "VALUE $C 1 1 #1\r\na\r\nEND\r\n"},
		step{"add $D +5 +300 01\r\na\r\n", "STORED\r\n"},
		step{"gets $D\r\n", "VALUE $D 5 1 #2\r\na\r\nEND\r\n"},
		step{"add $E 0 300 4294967297\r\na\r\n", "STORED\r\n"},
		step{"gets $E\r\n", "VALUE $E 0 1 #3\r\na\r\nEND\r\n"},
		step{"add $F\x01\t 0 300 1\r\na\r\n", "STORED\r\n"},
		step{"gets $F\x01\t\r\n", "VALUE $F\x01\t 0 1 #4\r\na\r\nEND\r\n"},
		step{"delete $F\x01\t\r\n", "DELETED\r\n"},
		step{"add  $G  0 300 1\r\na\r\n", "STORED\r\n"},
		step{"gets $G\n", "VALUE $G 0 1 #5\r\na\r\nEND\r\n"},
	)

	add("noreply",
		step{"add $A 0 300 1 noreply\r\na\r\n", ""},
		step{"gets $A\r\n", "VALUE $A 0 1 #1\r\na\r\nEND\r\n"},
		step{"add $A 0 300 1 noreply\r\nb\r\n", ""},
		step{"cas $A 0 300 1 {cas} noreply\r\nc\r\n", ""},
		step{"cas $A 0 300 1 {cas} noreply\r\nd\r\n", ""},
		step{"gets $A\r\n", "VALUE $A 0 1 #2\r\nc\r\nEND\r\n"},
		step{"add $A 0 0 3 noreply\r\nabcd\r\n", "ERROR\r\n"},
		step{"add $L 0 0 1 noreply\r\nx\r\n", "ERROR\r\n"},
		step{"cas $A 0 0 1 x noreply\r\na\r\n", "ERROR\r\n"},
		step{"cas $M 0 0 1 1 noreply\r\na\r\n", ""},
		step{"delete $A 5 noreply\r\n", ""},
		step{"gets $A\r\n", "VALUE $A 0 1 #2\r\nc\r\nEND\r\n"},
		step{"delete $A noreply\r\n", ""},
		step{"gets $A\r\n", "END\r\n"},
		step{"add $B 0 300 1\r\nb\r\n", "STORED\r\n"},
		step{"delete $B 0 noreply\r\n", ""},
		step{"gets $B\r\n", "END\r\n"},
		step{"bogus noreply\r\n", "ERROR\r\n"},
		step{"gets $A noreply\r\n", "END\r\n"},
	)

	// memcached's default 1 MiB item limit covers a 56-byte header, the key
	// and its NUL, the value and its "\r\n", and 4 bytes for non-zero flags.
	keyLen := len(prefix + "-sizes-A")
	maxValue := 1<<20 - 56 - (keyLen + 1) - 2
	value := func(n int) string { return strconv.Itoa(n) + "\r\n" + strings.Repeat("v", n) + "\r\n" }
	add("sizes",
		step{"add $A 0 300 " + value(maxValue), "STORED\r\n"},
		step{"add $B 0 300 " + value(maxValue+1), tooLarge},
		step{"gets $B\r\n", "END\r\n"},
		step{"add $C 1 300 " + value(maxValue-4), "STORED\r\n"},
		step{"add $D 1 300 " + value(maxValue-3), tooLarge},
		step{"gets $D\r\n", "END\r\n"},
		step{"add $E 0 300 5\r\nhello\r\n", "STORED\r\n"},
		step{"gets $E\r\n", "VALUE $E 0 5 #1\r\nhello\r\nEND\r\n"},
		step{"add $E 0 300 " + value(maxValue+1), tooLarge},
		step{"cas $E 0 300 " + strconv.Itoa(maxValue+1) + " {cas}\r\n" + strings.Repeat("v", maxValue+1) + "\r\n", tooLarge},
		step{"gets $E\r\n", "VALUE $E 0 5 #1\r\nhello\r\nEND\r\n"},
		step{"add $F 0 300 " + strconv.Itoa(maxValue+1) + " noreply\r\n" + strings.Repeat("v", maxValue+1) + "\r\n", ""},
		step{"gets $F\r\n", "END\r\n"},
	)

	add("meta",
		step{"ms $A 2 T300 c\r\nhi\r\n", "HD c#1\r\n"},
		step{"mg $A v c\r\n", "VA 2 c#1\r\nhi\r\n"},
		step{"mg $A\r\n", "HD\r\n"},
		step{"mg $A s f k v\r\n", "VA 2 s2 f0 k$A\r\nhi\r\n"},
		step{"mg $A T300 t c\r\n", "HD t300 c#1\r\n"},
		step{"ms $A 2 T300 ME c\r\nho\r\n", "NS c0\r\n"},
		step{"ms $A 2 T300 C{cas} c\r\nho\r\n", "HD c#2\r\n"},
		step{"ms $A 2 T300 C{oldcas} c\r\nzz\r\n", "EX c0\r\n"},
		step{"md $A C{oldcas}\r\n", "EX\r\n"},
		step{"md $A C{oldcas} q\r\n", "EX\r\n"},
		step{"mg $A v\r\n", "VA 2\r\nho\r\n"},
		step{"md $A C{cas}\r\n", "HD\r\n"},
		step{"md $A C{cas}\r\n", "NF\r\n"},
		step{"mg $A v c\r\n", "EN\r\n"},
		step{"ms $A 2 T300 C{cas} c\r\nhi\r\n", "NF c0\r\n"},
		step{"ms $A 2 T300 ME c\r\nhi\r\n", "HD c#3\r\n"},
		step{"md $A q\r\n", ""},
		step{"mg $A v\r\n", "EN\r\n"},
		step{"mg $M v q\r\n", ""},
		step{"mg $M v k O123\r\n", "EN k$M O123\r\n"},
		step{"ms $B 2 F7 k O5 c\r\nhi\r\n", "HD k$B O5 c#4\r\n"},
		step{"mg $B f t q v\r\n", "VA 2 f7 t-1\r\nhi\r\n"},
		step{"ms $B 2 MR c\r\nyo\r\n", "HD c#5\r\n"},
		step{"ms $M 2 MR c\r\nyo\r\n", "NS c0\r\n"},
		step{"ms $B 1 MA\r\n!\r\n", "HD\r\n"},
		step{"ms $B 1 MP\r\n<\r\n", "HD\r\n"},
		step{"mg $B v f\r\n", "VA 4 f0\r\n<yo!\r\n"},
		step{"ms $M 1 MA\r\n!\r\n", "NS\r\n"},
		step{"ms $B 2 c q\r\nhi\r\n", ""},
		step{"ms $B 2 ME q c\r\nhi\r\n", "NS c0\r\n"},
		step{"ms $B 2 ME O1 k\r\nhi\r\n", "NS O1 k$B\r\n"},
		step{"md $M q\r\n", "NF\r\n"},
		step{"md $M k O7\r\n", "NF k$M O7\r\n"},
		step{"md $B k O7\r\n", "HD k$B O7\r\n"},
		step{"mn\r\n", "MN\r\n"},
		step{"ms $C 2 T-1\r\nhi\r\n", "HD\r\n"},
		step{"mg $C v\r\n", "EN\r\n"},
		step{"ms $C 0 T300\r\n\r\n", "HD\r\n"},
		step{"mg $C v s\r\n", "VA 0 s0\r\n\r\n"},
		step{"ms $D 2 T2592001\r\nhi\r\n", "HD\r\n"},
		step{"mg $D v\r\n", "EN\r\n"},
		step{"ms $E 2\r\nhi\r\n", "HD\r\n"},
		step{"mg $E t v\r\n", "VA 2 t-1\r\nhi\r\n"},
		step{"add $F 0 300 2\r\nhi\r\ngets $F\r\n", "STORED\r\nVALUE $F 0 2 #6\r\nhi\r\nEND\r\n"},
		step{"md $F C{cas}\r\n", "HD\r\n"},
	)

	opaque := strings.Repeat("o", maxOpaque+1)
	add("meta-errors",
		step{"ms\r\n", "ERROR\r\n"},
		step{"mg\r\n", "ERROR\r\n"},
		step{"md\r\n", "ERROR\r\n"},
		step{"ms $A\r\n", badFormat},
		step{"ms $A x\r\nhi\r\n", badFormat + "ERROR\r\n"},
		step{"ms $A -1\r\nhi\r\n", badFormat + "ERROR\r\n"},
		step{"ms $A 2 MX\r\nhi\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n"},
		step{"ms $A 2 MEE\r\nhi\r\n", "CLIENT_ERROR incorrect length for M token\r\n"},
		step{"ms $A 2 T1 T2\r\nhi\r\n", "CLIENT_ERROR duplicate flag\r\n"},
		step{"ms $A 2 Z\r\nhi\r\n", "CLIENT_ERROR invalid flag\r\n"},
		step{"ms $A 2 Tx\r\nhi\r\n", "CLIENT_ERROR bad token in command line format\r\n"},
		step{"ms $A 2 Cx\r\nhi\r\n", "CLIENT_ERROR bad token in command line format\r\n"},
		step{"ms $A 2 C-1\r\nhi\r\n", "CLIENT_ERROR bad token in command line format\r\n"},
		step{"ms $A 2 Fx\r\nhi\r\n", badFormat},
		step{"ms $A 2 Tx Fx\r\nhi\r\n", "CLIENT_ERROR bad token in command line format\r\n"},
		step{"ms $A 2 Tx Z\r\nhi\r\n", "CLIENT_ERROR invalid flag\r\n"},
		step{"ms $A 2 O" + opaque + "\r\nhi\r\n", "CLIENT_ERROR opaque token too long\r\n"},
		step{"ms $A 3\r\nabcd\r\n", badChunk + "ERROR\r\n"},
		step{"ms $A 2 q\r\nabcd\r\n", badChunk + "ERROR\r\n"},
		step{"mg $A v\r\n", "EN\r\n"},
		step{"ms $L 2 T1\r\nhi\r\n", badFormat + "ERROR\r\n"},
		step{"mg $L v\r\n", badFormat},
		step{"md $L\r\n", badFormat},
		step{"mg $A Z\r\n", "CLIENT_ERROR invalid flag\r\n"},
		step{"mg $A v v\r\n", "CLIENT_ERROR duplicate flag\r\n"},
		step{"mg $A Tx\r\n", "CLIENT_ERROR bad token in command line format\r\n"},
		step{"mg $A v O" + opaque + "\r\n", "CLIENT_ERROR opaque token too long\r\n"},
		step{"mg $A" + strings.Repeat(" v", 18) + "\r\n", "CLIENT_ERROR options flags are too long\r\n"},
		step{"ms $A 2" + strings.Repeat(" q", 17) + "\r\nhi\r\n", "CLIENT_ERROR options flags too long\r\nERROR\r\n"},
		step{"md $A" + strings.Repeat(" q", 18) + "\r\n", "CLIENT_ERROR options flags too long\r\n"},
		step{"md $A Z\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"},
		step{"md $A Cx\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"},
		step{"md $A q q\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"},
		step{"md $A O" + opaque + "\r\n", "CLIENT_ERROR opaque token too long\r\n"},
		step{"mn extra\r\n", "MN\r\n"},
	)

	add("meta-arith",
		step{"ma $A v\r\n", "NF\r\n"},
		step{"ma $A q O1 k v\r\n", "NF O1 k$A\r\n"},
		step{"ma $A N0 J41 v t\r\n", "VA 2 t-1\r\n41\r\n"},
		step{"ma $A v\r\n", "VA 2\r\n42\r\n"},
		step{"ma $A\r\n", "HD\r\n"},
		step{"ma $A q v\r\nmn\r\n", "MN\r\n"},
		step{"ma $A N0 J7 T0 v O9 k\r\n", "VA 2 O9 k$A\r\n45\r\n"},
		step{"ma $A MD D50 v\r\n", "VA 1\r\n0\r\n"},
		step{"mg $A v\r\n", "VA 2\r\n0 \r\n"},
		step{"ma $A M+ D18446744073709551615 v\r\n", "VA 20\r\n18446744073709551615\r\n"},
		step{"ma $A MI v\r\n", "VA 1\r\n0\r\n"},
		step{"ma $A M- v\r\n", "VA 1\r\n0\r\n"},
		step{"ma $A v c\r\n", "VA 1 c#1\r\n1\r\n"},
		step{"ma $A v c\r\n", "VA 1 c#2\r\n2\r\n"},
		step{"ma $A C{oldcas} v k\r\n", "EX k$A\r\n"},
		step{"ma $A C{cas} v\r\n", "VA 1\r\n3\r\n"},
		step{"ms $B 2 T0\r\nab\r\n", "HD\r\n"},
		step{"ma $B v\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
		step{"ms $C 0 T0\r\n\r\n", "HD\r\n"},
		step{"ma $C v\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
		step{"ma $D N0 J5 q v\r\n", "VA 1\r\n5\r\n"},
		step{"ma $D O" + opaque + " v\r\n", "CLIENT_ERROR opaque token too long\r\n"},
		step{"ma $D v\r\n", "VA 1\r\n7\r\n"},
		step{"ma $E N2592001 J3 v\r\n", "VA 1\r\n3\r\n"},
		step{"mg $E v\r\n", "EN\r\n"},
		step{"ma $F N0 J1 v\r\n", "VA 1\r\n1\r\n"},
		step{"ma $F T2592001 v\r\n", "VA 1\r\n2\r\n"},
		step{"mg $F v\r\n", "EN\r\n"},
		step{"ma $G N0 T2592001 J1 v\r\n", "VA 1\r\n1\r\n"},
		step{"ma $G v\r\n", "NF\r\n"},
		step{"ma $H T2592001 N0 J1 v\r\n", "VA 1\r\n1\r\n"},
		step{"ma $H v\r\n", "VA 1\r\n2\r\n"},
		step{"ma $H MX\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n"},
		step{"ma $H Z\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"},
		step{"ma $H v v\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"},
		step{"ma $H Tx\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"},
		step{"ma $H Jx\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"},
		step{"ma $H D-1\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"},
		step{"ma $H N\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"},
		step{"ma $H" + strings.Repeat(" v", 18) + "\r\n", "CLIENT_ERROR options flags too long\r\n"},
		step{"ma $L v\r\n", badFormat},
		step{"ma\r\n", "ERROR\r\n"},
		step{"ma $H v\r\n", "VA 1\r\n3\r\n"},
	)

	add("http",
		step{"GET / HTTP/1.1\r\n", "<EOF>"},
	)
	return scripts
}

// runScript runs sc on a fresh connection to addr and returns the normalised
// replies, stopping after the server hangs up.
func runScript(t *testing.T, addr string, sc script) []string {
	t.Helper()
	rc := dialRaw(t, addr)
	casNames := make(map[string]string)
	casSeen := []string{"0", "0"} // the cas ids seen, the last last
	name := func(cas string) string {
		if casSeen[len(casSeen)-1] != cas {
			casSeen = append(casSeen, cas)
		}
		n, ok := casNames[cas]
		if !ok {
			n = "#" + strconv.Itoa(len(casNames)+1)
			casNames[cas] = n
		}
		return n
	}
	var replies []string
	for _, st := range sc.steps {
		req := strings.NewReplacer("{cas}", casSeen[len(casSeen)-1], "{oldcas}", casSeen[len(casSeen)-2]).Replace(st.req)
		reply := rc.roundTrip(req)
		lines := strings.SplitAfter(reply, "\r\n")
		for i, l := range lines {
			if !strings.HasSuffix(l, "\r\n") {
				continue
			}
			f := strings.Split(strings.TrimSuffix(l, "\r\n"), " ")
			switch {
			case len(f) == 5 && f[0] == "VALUE":
				f[4] = name(f[4])
			case isMetaReply(f[0]):
				// The c flag of a meta reply: c0 is no cas id.
				for j := 1; j < len(f); j++ {
					if cas, ok := strings.CutPrefix(f[j], "c"); ok && cas != "0" && cas != "" && strings.Trim(cas, "0123456789") == "" {
						f[j] = "c" + name(cas)
					}
				}
			default:
				continue
			}
			lines[i] = strings.Join(f, " ") + "\r\n"
		}
		replies = append(replies, strings.Join(lines, ""))
		if strings.HasSuffix(reply, "<EOF>") {
			break
		}
	}
	return replies
}

// isMetaReply reports whether code starts the reply line of a meta
// command.
func isMetaReply(code string) bool {
	switch code {
	case "HD", "VA", "EN", "NS", "EX", "NF":
		return true
	}
	return false
}

func checkScript(t *testing.T, server string, sc script, got []string) {
	t.Helper()
	for i, st := range sc.steps {
		if i >= len(got) {
			t.Errorf("%s: %s: no reply to step %d %s (the server hung up)", server, sc.name, i, clip(st.req))
			return
		}
		if got[i] != st.want {
			t.Errorf("%s: %s: reply to %s = %s; want %s", server, sc.name, clip(st.req), clip(got[i]), clip(st.want))
		}
	}
}

// clip quotes s, shortening it when it is long.
func clip(s string) string {
	if len(s) > 200 {
		return fmt.Sprintf("%q...(%d bytes)", s[:200], len(s))
	}
	return fmt.Sprintf("%q", s)
}

func TestProtocolScripts(t *testing.T) {
	s := startServer(t, nil)
	for _, sc := range protocolScripts("fake") {
		t.Run(sc.name, func(t *testing.T) {
			checkScript(t, "fake", sc, runScript(t, s.Addr(), sc))
		})
	}
}

// TestCompareWithRealServer runs the protocol scripts against the memcached
// named by LOCK_TEST_MEMCACHED_URL (memcached://host:port) and against the
// fake, and compares the replies.
func TestCompareWithRealServer(t *testing.T) {
	raw := os.Getenv("LOCK_TEST_MEMCACHED_URL")
	if raw == "" {
		t.Skip("LOCK_TEST_MEMCACHED_URL is not set")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "memcached" || u.Host == "" {
		t.Skipf("LOCK_TEST_MEMCACHED_URL %q is not a memcached://host:port URL", raw)
	}
	realAddr := u.Host
	if _, _, err := net.SplitHostPort(realAddr); err != nil {
		realAddr = net.JoinHostPort(realAddr, "11211")
	}

	s := startServer(t, nil)
	prefix := "memcachedtest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, sc := range protocolScripts(prefix) {
		t.Run(sc.name, func(t *testing.T) {
			want := runScript(t, realAddr, sc)
			got := runScript(t, s.Addr(), sc)
			checkScript(t, "memcached", sc, want)
			for i := range max(len(got), len(want)) {
				var g, w string
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				if g != w {
					t.Errorf("%s: reply to %s: fake %s; memcached %s", sc.name, clip(sc.steps[i].req), clip(g), clip(w))
				}
			}
		})
	}
}
