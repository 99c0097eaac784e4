"""The process's entry (`consentproxy`, `python -m consentproxy`), importing nothing before
`serve` ignores HUP: the third of a second of imports that follows is part of its start,
and HUP's default, ending the process, would turn a `systemctl reload` or a logrotate sent
then into an outage. `cli.cmd_serve` keeps it ignored until the loop has its handler.
Ctrl-C before a loop's handler (a start, a command reading a file) ends the process by
SIGINT, as Python does on an interrupt nobody catches, with no traceback: a shell's loop
around the command stops (an exit with 130 reads as an interrupt handled, and it went on).
A command whose reader left (`| head -1`) ends by SIGPIPE, quietly, as other tools do: an
exit with 1 read as a failure (a shell's pipefail stopped on it)."""

import os
import signal
import sys


def main() -> int:
    if sys.argv[1:2] == ["serve"]:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        from consentproxy.cli import main as run

        status = run()
        sys.stdout.flush()  # (here: a reader gone is a BrokenPipeError, not the exit's warning)
        return status
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (the exit's flush)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
        return 141  # (a shell's figure, where the signal did not end the process)
    except KeyboardInterrupt:  # (Ctrl-C in a start or a read: no traceback)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        return 130  # (a shell's figure, where the signal did not end the process)


if __name__ == "__main__":
    sys.exit(main())
