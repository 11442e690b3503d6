#!/bin/sh
# make valgrind: a representative part of the suite under valgrind memcheck, with the runner
# itself (the in-process tests: store, llm, json, sandbox_lua, the Atari engines) and every
# hone it starts (HONE_BIN=tests/valgrind/hone) traced. Passes when every case passes and no
# process logged an error or a definite or indirect leak.
#
# Left out: the cases that time a runaway (memcheck is 20-50 times slower, so a time cap
# hits before a memory cap), test_sandbox_exec and the external environments (valgrind
# 3.19 implements neither seccomp(2) nor pidfd_open(2), so a sandboxed program cannot start
# under it; make test SAN=1 covers them), the report's browser test and the long e2e runs
# that the cases kept here already walk through.
set -u
cd "$(dirname "$0")/../.."
logs=build/valgrind-logs
rm -rf "$logs"
mkdir -p "$logs"
start=$(date +%s)
HONE_VALGRIND="$PWD/$logs" HONE_BIN=tests/valgrind/hone tests/valgrind/hone lua tests/runner.lua \
    test_store test_llm: test_llm_batch test_sandbox_lua test_framework test_recipes test_progress \
    "test_atari: episode runs" "test_atari: a failing policy" "test_atari: same seed" \
    "test_atari: every game has a spec" \
    test_e2e_llm test_cli test_sweep \
    "test_limits: an LLM" "test_limits: a 100 MB" "test_limits: two runs" "test_limits: API keys" \
    "test_limits: hone waits" \
    -runaway
status=$?
processes=$(ls "$logs" | wc -l)
bad=$(grep -l '^==[0-9]*== ' "$logs"/* 2>/dev/null)
for f in $bad; do
    echo "== $f"
    cat "$f"
done
echo "valgrind: $processes processes traced in $(($(date +%s) - start)) s, $(echo "$bad" | grep -c .) with errors or leaks"
[ $status -eq 0 ] && [ -z "$bad" ]
