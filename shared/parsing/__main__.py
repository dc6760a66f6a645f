"""`python -m mailgate.shared.parsing [--text|--class|--json] < message.eml`

A tiny entry for the corpus's scoring scripts, which run one command per
.eml on stdin: `--text` prints the trimmed text (score_trim.py), `--class`
prints bounce | auto_reply | normal (score_classify.py), `--json` (default)
prints the parse result with the robot verdict. The envelope sender is
unknown here, as for a raw upload. `mailgate parse --json` is the user-facing
equivalent.
"""

from __future__ import annotations

import json
import sys

from ..message import load_message
from . import classify_robot, parse_message


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    mode = args[0] if args else "--json"
    msg = load_message(sys.stdin.buffer.read())
    out = sys.stdout
    try:  # the scoring scripts read UTF-8 whatever the locale
        out.reconfigure(encoding="utf-8")  # type: ignore[attr-defined]
    except Exception:
        pass
    if mode == "--text":
        out.write(parse_message(msg).text + "\n")
    elif mode == "--class":
        out.write((classify_robot(msg, None).kind or "normal") + "\n")
    elif mode == "--json":
        data = parse_message(msg).to_json()
        verdict = classify_robot(msg, None)
        data["robot"] = verdict.kind
        data["robot_reason"] = verdict.reason
        out.write(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    else:
        sys.stderr.write(__doc__ or "")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
