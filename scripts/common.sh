# Sourced by the scripts here: the helpers they share.

# quietly COMMAND...: run it; show its output (less pip's index warnings) only if it fails.
quietly() {
  local log status=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 || status=$?
  if [ $status -ne 0 ]; then
    grep -v "^WARNING: Location" "$log" >&2 || true
  fi
  rm -f "$log"
  return $status
}
