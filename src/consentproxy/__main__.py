"""The process's entry (`consentproxy`, `python -m consentproxy`), importing nothing before
`serve` ignores HUP: the third of a second of imports that follows is part of its start,
and HUP's default, ending the process, would turn a `systemctl reload` or a logrotate sent
then into an outage. `cli.cmd_serve` keeps it ignored until the loop has its handler."""

import signal
import sys


def main() -> int:
    if sys.argv[1:2] == ["serve"]:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from consentproxy.cli import main as run

    return run()


if __name__ == "__main__":
    sys.exit(main())
