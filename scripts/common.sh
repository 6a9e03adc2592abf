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

# The test files for the cores, named once (docs/support.md says what they cover):
# the ring's contract, which both cores must keep; what needs the C cores (the
# shared ring, the build); and the core tests, which add what the ring carries.
RING_TESTS=(tests/test_buffer.py tests/test_buffer_model.py)
C_CORE_TESTS=("${RING_TESTS[@]}" tests/test_shared.py tests/test_build.py)
CORE_TESTS=("${C_CORE_TESTS[@]}" tests/test_message.py tests/test_parser.py tests/test_async_producer.py)
