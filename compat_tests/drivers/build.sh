#!/usr/bin/env bash
# Build every compat driver that has a build step (Java, Go, Node), running each driver.json's own
# `build` commands in its folder, so CI shows build failures and times before the tests start.
# The runner (compat_tests/matrix.py) builds on first use only when `built` is missing; run this to
# rebuild after changing a driver's source.
#
#   compat_tests/drivers/build.sh              # all drivers with a build step
#   compat_tests/drivers/build.sh java sarama  # only these
#
# A driver whose `requires` are not all on PATH is skipped with a notice (the runner skips its
# cells with the same reason). Exit status is non-zero if any build failed.
set -uo pipefail

cd "$(dirname "$0")"

# One line per driver: folder <TAB> requires <TAB> its build commands, shell-quoted, joined by " && ".
plan() {
    python3 - "$@" <<'EOF'
import json, shlex, sys
from pathlib import Path
wanted = set(sys.argv[1:])
for manifest in sorted(Path(".").glob("*/driver.json")):
    d = json.loads(manifest.read_text())
    if not d.get("build") or (wanted and d["name"] not in wanted):
        continue
    cmds = " && ".join(shlex.join(c) for c in d["build"])
    print(f"{manifest.parent.name}\t{' '.join(d.get('requires', []))}\t{cmds}")
EOF
}

failed=()
while IFS=$'\t' read -r folder requires cmds; do
    missing=()
    for exe in $requires; do
        command -v "$exe" >/dev/null 2>&1 || missing+=("$exe")
    done
    if ((${#missing[@]})); then
        echo "[build] $folder: skipped, not on PATH: ${missing[*]}"
        continue
    fi
    echo "[build] $folder: $cmds"
    start=$SECONDS
    # (printf starts on a new line: Debian's Maven ends its output with colour codes and no newline.)
    if (cd "$folder" && eval "$cmds" </dev/null); then
        printf '\n[build] %s: ok in %ss\n' "$folder" "$((SECONDS - start))"
    else
        printf '\n[build] %s: FAILED after %ss\n' "$folder" "$((SECONDS - start))"
        failed+=("$folder")
    fi
done < <(plan "$@")

if ((${#failed[@]})); then
    echo "[build] failed: ${failed[*]}"
    exit 1
fi
