"""The `deadline-sqs` console script (and `python -m deadline_sqs`).

Imports the commands inside the guard, so Ctrl-C ends it quietly at any point, even while
boto3 and the local harness are still loading.
"""

from __future__ import annotations

import sys

from deadline_sqs import INTERRUPTED


def main() -> int:
    try:
        from deadline_sqs.cli import main as run_command

        return run_command()
    except KeyboardInterrupt:
        print("deadline-sqs: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
