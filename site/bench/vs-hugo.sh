#!/usr/bin/env bash
# The generator against Hugo on the same markdown corpus (../shared/bench/corpus.py),
# side by side in one run, output into a tmpfs folder (/dev/shm).
#
#   site/bench/vs-hugo.sh 1000     # or 10000
#
# Needs: `apt-get install -y hugo hyperfine`, a release build of mutualaid.
# mutualaid reads pages from <content>/pages/, with config.toml and i18n/ beside
# them, so the corpus's content/ is copied under pages/ (URLs stay /pages/pNNNNN/)
# with a one-language config and the real English interface texts. mutualaid
# renders its full page template (navigation, inlined CSS); Hugo the corpus's
# minimal layouts.
set -euo pipefail
n=${1:-1000}
root=$(cd "$(dirname "$0")/../.." && pwd)
corpus_py=${CORPUS_PY:-$root/../shared/bench/corpus.py}
# BENCH_DIR picks the disk (default tmpfs); e.g. BENCH_DIR=/var/tmp for ext4.
work=$(mktemp -d "${BENCH_DIR:-/dev/shm}/mutualaid-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

python3 "$corpus_py" "$n" "$work/corpus" >/dev/null
site="$work/mutualaid"
mkdir -p "$site/pages" "$site/i18n"
cp -r "$work/corpus/content/." "$site/pages/"
cp "$root/content/i18n/en.toml" "$site/i18n/"
cat >"$site/config.toml" <<TOML
base_url = "https://example.org"
languages = ["en"]
organisation = "bench"
contact_email = "bench@example.org"
discord_url = "https://discord.gg/bench"
donate_url = "https://example.org/give"
api_base = "/api"
retention_days = 30
TOML

bin="$root/target/release/mutualaid"
[ -x "$bin" ] || cargo build --release -q -p mutualaid --manifest-path "$root/Cargo.toml"
"$bin" check --content "$site" >/dev/null

hyperfine --warmup 1 --runs 5 --export-markdown "$work/result.md" \
  --prepare "rm -rf $work/out-mutualaid $work/corpus/public" \
  -n "mutualaid build ($n pages)" "$bin build --content $site --out $work/out-mutualaid" \
  -n "hugo ($n pages)" "hugo --quiet --source $work/corpus --destination $work/corpus/public"
cat "$work/result.md"
for cmd in "$bin build --content $site --out $work/out-mutualaid-mem" "hugo --quiet --source $work/corpus --destination $work/corpus/public-mem"; do
  /usr/bin/time -f "peak RSS %M KiB: ${cmd%% *}" $cmd >/dev/null
done
