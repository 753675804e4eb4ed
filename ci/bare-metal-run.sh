#!/usr/bin/env bash
# Runs the lwcbench suite on a dedicated bare-metal runner and compares it with the runner's
# baseline. Meant for a self-hosted CI runner (see ci/github-workflow-example.yml).
#
# Usage: ci/bare-metal-run.sh [--setting quick|full] [--baseline FILE] [--out DIR]
#                             [--cpus LIST] [--tune] [--threshold PERCENT]
#
#   --setting    quick (default) or full
#   --baseline   result file to compare with (default: results/baselines/$(hostname -s).json);
#                without one, the run is recorded and nothing is compared
#   --out        directory for current.json, current.md and compare.md (default: ci-out)
#   --cpus       run lwcbench under `taskset -c LIST` (e.g. the CPUs booted with isolcpus=)
#   --tune       as root: set the performance governor and turn boost off for the run, and
#                restore both on exit
#   --threshold  smallest relative change that counts, in percent (default 5)
#
# Exit status: 0 no regression; 4 regression (from `lwcbench compare`); anything else an error.
# Points that fail during the run are recorded in current.json and do not stop the script.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

setting=quick
baseline="results/baselines/$(hostname -s).json"
out=ci-out
cpus=
tune=0
threshold=5
while [ $# -gt 0 ]; do
    case $1 in
        --setting) setting=$2; shift 2 ;;
        --baseline) baseline=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --cpus) cpus=$2; shift 2 ;;
        --tune) tune=1; shift ;;
        --threshold) threshold=$2; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
case $setting in quick|full) ;; *) echo "--setting must be quick or full" >&2; exit 2 ;; esac

mkdir -p "$out"
cargo build --release -p lwcbench
bin=target/release/lwcbench

restore=()
# shellcheck disable=SC2317 # run by the EXIT trap below
restore_all() {
    local cmd
    for cmd in "${restore[@]}"; do
        eval "$cmd" || true
    done
}
trap restore_all EXIT

if [ "$tune" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "--tune needs root" >&2
        exit 2
    fi
    for g in /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor; do
        [ -w "$g" ] || continue
        restore+=("echo $(cat "$g") > $g")
        echo performance > "$g"
    done
    if [ -w /sys/devices/system/cpu/cpufreq/boost ]; then
        restore+=("echo $(cat /sys/devices/system/cpu/cpufreq/boost) > /sys/devices/system/cpu/cpufreq/boost")
        echo 0 > /sys/devices/system/cpu/cpufreq/boost
    fi
    if [ -w /sys/devices/system/cpu/intel_pstate/no_turbo ]; then
        restore+=("echo $(cat /sys/devices/system/cpu/intel_pstate/no_turbo) > /sys/devices/system/cpu/intel_pstate/no_turbo")
        echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo
    fi
fi

# The fingerprint (and its warnings) go into the log.
"$bin" env

runner=()
if [ -n "$cpus" ]; then
    runner=(taskset -c "$cpus")
fi
status=0
"${runner[@]}" "$bin" run "--$setting" --out "$out/current.json" > /dev/null || status=$?
case $status in
    0) ;;
    3) echo "some points failed; they are recorded in $out/current.json" >&2 ;;
    *) echo "lwcbench run failed (exit $status)" >&2; exit "$status" ;;
esac

verdict=0
if [ -f "$baseline" ]; then
    "$bin" compare --threshold "$threshold" "$baseline" "$out/current.json" > "$out/compare.md" \
        || verdict=$?
else
    echo "no baseline at $baseline: nothing compared" > "$out/compare.md"
fi

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$out/compare.md" "$out/current.md" >> "$GITHUB_STEP_SUMMARY"
fi
cat "$out/compare.md"
exit "$verdict"
