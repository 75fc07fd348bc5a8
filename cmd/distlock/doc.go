// Distlock runs a command under a lock held in memcached, redis or
// PostgreSQL, so that one process at a time, on any number of machines,
// runs it: flock(1) across machines, for shells, cron jobs and CI steps.
// It is built on
// lock.Do of github.com/distlock/lock.
//
//	go install github.com/distlock/lock/cmd/distlock@latest
//
// Usage:
//
//	distlock run [flags] KEY -- COMMAND [ARGS...]
//
// Run acquires KEY, keeps it alive while COMMAND runs (extending it every
// ttl/3), and releases it when COMMAND exits. COMMAND gets distlock's stdin,
// stdout and stderr, and its environment with DISTLOCK_KEY (the key) and
// DISTLOCK_TOKEN (the lease's token, unique to this acquisition) added;
// distlock exits with COMMAND's status.
//
// The flags, which go before KEY:
//
//	-url URL
//	      the lock store: memcached://HOST:11211[,HOST:11211...] or
//	      redis://[:PASSWORD@]HOST:6379/DB or
//	      postgres://USER[:PASSWORD]@HOST:5432/DB (default: $LOCK_URL).
//	      Every parameter of the backends' URLs is accepted (see the
//	      memcached, redis and postgres packages, # URLs). memory:// is
//	      refused: it keeps
//	      locks inside one process.
//	-ttl DURATION
//	      lifetime of the lock, extended every ttl/3 while COMMAND runs; a
//	      distlock killed with SIGKILL blocks KEY for this long (default 30s)
//	-wait DURATION
//	      how long to wait while another owner holds KEY; 0 fails at once,
//	      "forever" never gives up (default 0)
//	-grace DURATION
//	      when the lock is lost, how long COMMAND has between SIGTERM and
//	      SIGKILL (default 10s)
//	-q    quiet: no message when KEY is busy or distlock is interrupted,
//	      nor warnings that need no action; errors are always reported
//
// Durations carry a unit: 500ms, 30s, 5m, 1h30m. Every message of distlock
// is one line on stderr that starts with "distlock: ". Messages never show
// the password of the URL.
//
// A cron job on several machines, of which one makes the report and the
// others skip it (-q: no mail for the skip):
//
//	*/5 * * * * distlock run -q -url memcached://cache:11211 nightly-report -- ./report.sh
//
// # Exit status
//
//	N       COMMAND's own status; 128+n when signal n ended it
//	64      usage: bad flags or arguments, or a bad -url; nothing was run
//	69      the lock store could not be reached, or failed; nothing was run
//	75      KEY busy: held by another owner for the whole -wait; nothing was run
//	76      the lock was lost while COMMAND ran: COMMAND was sent SIGTERM (and
//	        SIGKILL after -grace), or had exited, whatever its own status
//	126     COMMAND could not be started
//	127     COMMAND was not found (looked up before the lock is taken)
//	128+n   distlock was interrupted by signal n before COMMAND started
//
// 64, 69 and 75 are EX_USAGE, EX_UNAVAILABLE and EX_TEMPFAIL of
// sysexits.h. 76 (EX_PROTOCOL, a remote end that broke the exchange) is the
// store's: it stopped holding the lock. A bad -url is 64 when the store
// refuses it too (a wrong password or database, a server that is not
// memcached), and 69 when the store cannot be reached or does not answer
// within 10s. A wait that ends while the store is failing is 69, not 75:
// the key may well be free.
//
// A COMMAND that exits with one of distlock's own statuses cannot be told
// from distlock by the status alone; the message on stderr can.
//
// # Signals
//
// SIGINT and SIGTERM sent to distlock are passed on to COMMAND; distlock
// then waits for COMMAND to exit, releases the lock, and exits with
// COMMAND's status (143 if SIGTERM ended it). Before COMMAND starts, they
// end the wait, and distlock exits with 128+n.
//
// When the store no longer holds the lock while COMMAND runs (the key was
// deleted, evicted or flushed, or extends failed until the ttl passed),
// distlock sends COMMAND SIGTERM, then SIGKILL after -grace, says why on
// stderr, and exits with 76.
//
// # Caveats
//
// Signals go to COMMAND's process, not to the processes it starts: a shell
// script should exec its last command, or pass signals on with trap, or its
// children outlive a lost lock.
//
// From a terminal, Ctrl-C reaches COMMAND twice: from the terminal, which
// signals the whole foreground process group, and from distlock.
//
// A distlock killed with SIGKILL, or another signal that it does not pass
// on (SIGHUP, SIGQUIT), cannot release the lock: KEY stays held until -ttl
// passes. On Linux the kernel then kills COMMAND (SIGKILL), so that it does
// not run on without the lock; not the processes COMMAND started, though,
// nor a set-user-ID COMMAND such as sudo. On other systems COMMAND runs on,
// unlocked, unless its process group, which is distlock's, is killed too.
// A lock here is a lease with a ttl (see the package doc of
// github.com/distlock/lock, # Caveats): a machine paused past the ttl may
// let another owner in before distlock learns that the lock was lost.
package main
