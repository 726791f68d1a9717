#!/usr/bin/env bash
# Where the `submit` binary's CPU goes per valid sign-up: `perf record` on the
# whole process (every thread) while `load submit-bench` sends it sign-ups,
# then each sample is put in the first group its stack names.
#
#   MOTO_ENDPOINT=http://127.0.0.1:PORT handler/bench/submit-profile.sh [REQUESTS]
#
# Needs: perf (Debian `linux-perf`), moto as tests/run starts it, a release
# build of `load` (cargo build --release -p mutualaid-tests --bin load). It
# builds `submit` with symbols into target/prof/ (the release profile strips).
set -euo pipefail
requests=${1:-600}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
: "${MOTO_ENDPOINT:?set MOTO_ENDPOINT to the address of moto}"

CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  cargo build --release --locked --quiet -p mutualaid-lambdas --bin submit --target-dir target/prof

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# load kills the function with SIGKILL when it is done: perf runs beside the
# wrapper, not in its place, so it survives to write its data when submit exits.
cat >"$work/submit" <<SH
#!/bin/sh
perf record -q -F 1999 -g --call-graph dwarf,32768 -o "$work/perf-\$\$.data" -- "$root/target/prof/release/submit" 2>/dev/null &
wait
SH
chmod +x "$work/submit"

target/release/load --requests "$requests" submit-bench --submit "$work/submit" --moto "$MOTO_ENDPOINT" >"$work/bench.txt"
grep '^[0-9]* valid sign-ups' "$work/bench.txt" | sed 's/: CPU.*;/:/' # (its CPU figure is the wrapper's)
# The last instance took the sign-ups; wait until every perf has written its data.
while pgrep -f -- "-o $work/perf-" >/dev/null; do sleep 0.2; done
data=$(ls -S "$work"/perf-*.data | head -n 1)
perf script -i "$data" -F ip,sym --no-inline 2>/dev/null >"$work/stacks.txt"
python3 - "$work/stacks.txt" "$((requests + 50))" <<'PY'
import collections, re, sys

# First match wins: the SDK's frames sit under the handler's store calls, so
# the SDK is asked first and "handler" is what the handler does itself.
groups = [
    ("opening a TCP connection per DynamoDB call (moto closes each one)", r"connect_to|HttpConnector|ConnectTimeout|TcpStream::connect"),
    ("SigV4 signing", r"aws_sigv4"),
    ("AWS SDK: building, sending and parsing requests", r"aws_smithy|aws_sdk_dynamodb|aws_runtime|aws_types"),
    ("serde_dynamo (records to items and back)", r"serde_dynamo"),
    ("the handler's own code (decode, validate, decide, answer)", r"mutualaid"),
    ("the Lambda runtime client (lambda_runtime, lambda_http)", r"lambda_runtime|lambda_http"),
]
counts = collections.Counter()
for stack in open(sys.argv[1]).read().split("\n\n"):
    if not stack.strip():
        continue
    for name, pattern in groups:
        if re.search(pattern, stack):
            counts[name] += 1
            break
    else:
        counts["other: scheduler and syscalls with no Rust frame"] += 1
total = sum(counts.values())
sign_ups = int(sys.argv[2])  # load sends 50 to warm up, then the ones asked for
per = total / 1999 / sign_ups * 1e6
print(f"perf: {total} samples at 1999 Hz = {total / 1999:.2f} s of CPU for {sign_ups} sign-ups (start-up included): {per:.0f} µs each")
for name, n in counts.most_common():
    print(f"{100 * n / total:5.1f} %  {per * n / total:5.0f} µs  {name}")
PY
