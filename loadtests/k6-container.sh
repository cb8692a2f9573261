#!/bin/sh
# Entry point of the compose stack's k6 container (docker-compose.yml): k6 with
# two guarantees the bare image does not give. POSIX sh: it runs in the
# official Alpine-based image and in a Debian stand-in alike.
#
# 1. The summary is written or the run fails. k6 only logs "permission denied"
#    and still exits 0 when it cannot write handleSummary's file (the official
#    image runs as uid 12345; ./results is usually its owner's, mode 755). So:
#    refuse before any load when the summary cannot be written, and fail after
#    the run when k6 did not write it.
# 2. The labels follow the run. A `run` without any --tag gets
#    service=$SERVICE and testid=$TESTID (default compose-<script>-<service>-
#    <UTC time>), the tags `bench loadtest` sets, so that each run's series are
#    its own. `bench loadtest` passes its own tags and is left alone.
set -u
me=k6-container

if [ "${1:-}" != run ]; then
    exec k6 "$@"
fi

has_tags=no
summary=${SUMMARY_PATH:-}
script=
previous=
for arg in "$@"; do
    case "$arg" in
        --tag | --tag=*) has_tags=yes ;;
        --env=SUMMARY_PATH=*) summary=${arg#--env=SUMMARY_PATH=} ;;
        SUMMARY_PATH=*)
            # `-e SUMMARY_PATH=...` overrides the container's variable in k6 too.
            if [ "$previous" = -e ] || [ "$previous" = --env ]; then
                summary=${arg#SUMMARY_PATH=}
            fi
            ;;
    esac
    previous=$arg
    script=$arg # `k6 run [flags] SCRIPT`: the script comes last
done

if [ -n "$summary" ]; then
    directory=$(dirname "$summary")
    probe="$directory/.k6-write-check.$$"
    if ! mkdir -p "$directory" 2>/dev/null || ! touch "$probe" 2>/dev/null; then
        echo "$me: cannot write the summary $summary as uid $(id -u): nothing was run." >&2
        echo "$me: run the container as the owner of the results directory," \
            "e.g. docker compose --profile load run --rm --user \"\$(id -u):\$(id -g)\" k6" >&2
        exit 2
    fi
    rm -f "$probe"
    # A summary left by an earlier run must not pass for this run's.
    if ! rm -f "$summary"; then
        echo "$me: cannot replace the earlier summary $summary: nothing was run." >&2
        exit 2
    fi
fi

if [ "$has_tags" = no ]; then
    service=${SERVICE:-unknown}
    name=$(basename "$script" .js)
    testid=${TESTID:-compose-$name-$service-$(date -u +%Y%m%d-%H%M%S)}
    shift
    set -- run --tag "service=$service" --tag "testid=$testid" "$@"
    echo "$me: this run's series carry service=$service testid=$testid" >&2
fi

# Ctrl-C or `docker stop` reaches k6 and this shell together (compose runs the
# container with an init that signals the whole process group): k6 stops
# gracefully and writes its summary, and the shell, instead of dying, goes on
# to check that summary. A trap with a command, not '' (which k6 would inherit
# as "ignore").
trap ':' INT TERM
k6 "$@"
code=$?
if [ -n "$summary" ] && [ ! -s "$summary" ]; then
    echo "$me: k6 exited $code but did not write its summary $summary" >&2
    if [ "$code" -eq 0 ]; then
        code=1
    fi
fi
exit "$code"
