"""The process's entry (`consentproxy`, `python -m consentproxy`), importing nothing before
`serve` ignores HUP: the third of a second of imports that follows is part of its start,
and HUP's default, ending the process, would turn a `systemctl reload` or a logrotate sent
then into an outage. `cli.cmd_serve` keeps it ignored until the loop has its handler.
Ctrl-C before a loop's handler (a start, a command reading a file) ends with 130, as a
shell counts an interrupt, and no traceback."""

import signal
import sys


def main() -> int:
    if sys.argv[1:2] == ["serve"]:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        from consentproxy.cli import main as run

        return run()
    except KeyboardInterrupt:  # (Ctrl-C in a start or a read: no traceback; a shell's 130)
        return 130


if __name__ == "__main__":
    sys.exit(main())
