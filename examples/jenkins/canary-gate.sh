#!/usr/bin/env sh
# The gate of examples/jenkins/Jenkinsfile: waits for Sluice's verdict on a
# Canary and turns it into the stage's result.
#
#   exit 0  Succeeded: all traffic on the new version; the pipeline finishes the release
#   exit 1  Failed: Sluice rolled back by itself (all traffic on the stable version)
#   exit 3  no verdict within CANARY_TIMEOUT: aborted here (rolled back), so
#           a stuck release never keeps live traffic on the new version
#   exit 2  the gate itself failed (control plane unreachable, abort refused…)
#
# Environment: CANARY (namespace/name), SLUICE_ADMIN (admin URL of the leader),
# SLUICE_ADMIN_TOKEN (for abort: in Kubernetes a token of an account bound to
# the ClusterRole sluice-canary-operator), CANARY_TIMEOUT (default 30m),
# CANARY_POLL (default 5s), SLUICE (the command, default `sluice`).
set -u
: "${CANARY:?set CANARY to <namespace>/<name>}"
SLUICE="${SLUICE:-sluice}"
ADMIN="${SLUICE_ADMIN:-http://127.0.0.1:15014}"
TIMEOUT="${CANARY_TIMEOUT:-30m}"

$SLUICE canary status --wait --timeout "$TIMEOUT" --poll "${CANARY_POLL:-5s}" --admin "$ADMIN" "$CANARY"
verdict=$?
case "$verdict" in
  0) echo "canary $CANARY succeeded" ;;
  1) echo "canary $CANARY failed; Sluice rolled it back to the stable version" >&2 ;;
  3)
    echo "canary $CANARY has no verdict after $TIMEOUT; aborting (rolling back)" >&2
    if ! $SLUICE canary abort --admin "$ADMIN" "$CANARY"; then
      echo "could not abort canary $CANARY: roll it back by hand (sluice canary abort $CANARY)" >&2
      exit 2
    fi
    ;;
  *)
    echo "sluice canary status failed (exit $verdict)" >&2
    exit 2
    ;;
esac
exit "$verdict"
