#!/usr/bin/env bash
# Keep one process of `make run` running (Procfile): start COMMAND, and when it exits by
# itself start it again after a back-off (1 s, doubling to 30 s; back to 1 s after a minute
# of healthy running). honcho stops the whole stack as soon as any of its processes exits,
# so without this one worker that died (an OOM kill, a broker outage kombu could not ride
# out) took the web app, beat and every other worker down with it.
#
# SIGTERM/SIGINT (honcho stopping the stack, Ctrl-C) are passed on to COMMAND and end the
# loop: a stop is never mistaken for a crash.
#
# usage: scripts/supervise.sh COMMAND [ARGS...]
set -u
[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
child=0
sleeper=0
stopping=0
stop() {
    stopping=1
    [ "$child" -ne 0 ] && kill -TERM "$child" 2>/dev/null
    [ "$sleeper" -ne 0 ] && kill "$sleeper" 2>/dev/null
}
trap stop TERM INT
delay=1
while :; do
    started=$SECONDS
    "$@" &
    child=$!
    wait "$child"
    status=$?
    # `wait` returns early when a trapped signal arrives: wait for the child itself.
    while kill -0 "$child" 2>/dev/null; do
        wait "$child"
        status=$?
    done
    child=0
    [ "$stopping" -eq 1 ] && exit "$status"
    [ $((SECONDS - started)) -ge 60 ] && delay=1
    echo "supervise: '$1' exited with status $status; starting it again in ${delay}s" >&2
    sleep "$delay" &
    sleeper=$!
    wait "$sleeper" 2>/dev/null
    sleeper=0
    [ "$stopping" -eq 1 ] && exit "$status"
    delay=$((delay * 2 > 30 ? 30 : delay * 2))
done
