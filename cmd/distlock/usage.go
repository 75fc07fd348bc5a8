package main

// usage is what -h prints. doc.go says the same for go doc; a test checks
// that the two list the same flags and exit statuses.
const usage = `Usage: distlock run [flags] KEY -- COMMAND [ARGS...]

Run COMMAND while holding the lock KEY in a lock store shared by machines
(memcached, redis or PostgreSQL), so that one process at a time runs it.
The lock is kept alive while COMMAND runs, and released when it exits.
COMMAND gets distlock's stdin, stdout and stderr, and DISTLOCK_KEY and
DISTLOCK_TOKEN (the lease's token) in its environment; distlock exits with
its status.

Flags (before KEY):
  -url URL
        the lock store: memcached://HOST:11211[,HOST:11211...] or
        redis://[:PASSWORD@]HOST:6379/DB or
        postgres://USER[:PASSWORD]@HOST:5432/DB (default: $LOCK_URL)
  -ttl DURATION
        lifetime of the lock, extended every ttl/3 while COMMAND runs; a
        distlock killed with SIGKILL blocks KEY for this long (default 30s)
  -wait DURATION
        how long to wait while another owner holds KEY; 0 fails at once,
        "forever" never gives up (default 0)
  -grace DURATION
        when the lock is lost, how long COMMAND has between SIGTERM and
        SIGKILL (default 10s)
  -q    quiet: no message when KEY is busy or distlock is interrupted,
        nor warnings that need no action; errors are always reported

Durations carry a unit: 500ms, 30s, 5m, 1h30m.

Examples:
  # cron on several machines: one of them makes the report, the others skip it
  */5 * * * * distlock run -q -url memcached://cache:11211 nightly-report -- ./report.sh

  # CI: deploys of concurrent pipelines take turns, each waiting up to 20 minutes
  distlock run -url redis://redis:6379/0 -wait 20m -ttl 1m deploy-prod -- make deploy

  # the store from the environment; wait as long as it takes
  LOCK_URL=memcached://cache:11211 distlock run -wait forever migrate -- sh -c './migrate up'

Exit status:
  N       COMMAND's own status; 128+n when signal n ended it
  64      usage: bad flags or arguments, or a bad -url; nothing was run
  69      the lock store could not be reached, or failed; nothing was run
  75      KEY busy: held by another owner for the whole -wait; nothing was run
  76      the lock was lost while COMMAND ran: COMMAND was sent SIGTERM (and
          SIGKILL after -grace), or had exited, whatever its own status
  126     COMMAND could not be started
  127     COMMAND was not found (looked up before the lock is taken)
  128+n   distlock was interrupted by signal n before COMMAND started

Signals: SIGINT and SIGTERM sent to distlock are passed to COMMAND; distlock
waits for it to exit, releases the lock and exits with its status. When
distlock is killed (SIGKILL), Linux kills COMMAND too; on other systems
COMMAND runs on, without the lock.
`
