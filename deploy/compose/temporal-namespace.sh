#!/bin/sh
# Creates the namespace Trellis uses once the server answers (auto-setup did this too).
set -eu
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
until temporal operator cluster health --address "${TEMPORAL_ADDRESS}"; do echo 'waiting for temporal'; sleep 2; done
temporal operator namespace describe -n "$NAMESPACE" --address "${TEMPORAL_ADDRESS}" >/dev/null 2>&1 \
  || temporal operator namespace create -n "$NAMESPACE" --retention 7d --address "${TEMPORAL_ADDRESS}"
echo "namespace $NAMESPACE ready"
