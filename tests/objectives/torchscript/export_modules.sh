#!/usr/bin/env bash
# Exports, into DIR, the modules of docs/writing-an-objective-in-python.md with exactly the page's
# code and its export command (objectives.py, suite.toml, infonce.pt, tuba.pt, mine.pt), then the
# modules the plugin must refuse (make_bad_modules.py). Needs Debian's python3-torch
# (scripts/setup.sh installs it); PYTHON overrides the interpreter.
#   export_modules.sh DIR SOURCE_DIR
set -euo pipefail
out=$1
source_dir=$2
python=${PYTHON:-/usr/bin/python3}
page="$source_dir/docs/writing-an-objective-in-python.md"

"$python" -c 'import torch' 2> /dev/null || {
  echo "$python cannot import torch: install Debian's python3-torch (scripts/setup.sh)" >&2; exit 1; }
mkdir -p "$out"
# The page's one python block and one toml block, verbatim.
block() { sed -n "/^\`\`\`$1\$/,/^\`\`\`\$/p" "$page" | sed '1d;$d'; }
[[ $(grep -c '^```python$' "$page") == 1 && $(grep -c '^```toml$' "$page") == 1 ]] || {
  echo "$page: expected one python and one toml block" >&2; exit 1; }
block python > "$out/objectives.py"
block toml > "$out/suite.toml"
# The page's export command, run where the suite expects the files.
command=$(grep -E '^    /usr/bin/python3 objectives.py \.' "$page" | sed 's/#.*//')
[[ -n "$command" ]] || { echo "$page: no export command" >&2; exit 1; }
(cd "$out" && eval "${command//\/usr\/bin\/python3/$python}")
"$python" "$source_dir/tests/objectives/torchscript/make_bad_modules.py" "$out"
