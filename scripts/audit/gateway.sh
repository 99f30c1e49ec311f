# Started by the audit's CLI as `sh gateway.sh SUITE_ID` (with cwd set to this
# directory) and stopped by it with SIGTERM. The CLI uses `sh`, so hand over
# to bash at once.
exec bash ./tollgate-gateway.sh "$@"
