"""The one kind of error a user can cause, UserError: its message says what to fix; the
command line prints it as one line and exits 2, the mitmproxy addon refuses the option
with it. Anything else is a bug and should be loud.

- ConfigError: a value the user wrote is wrong, in a config file, a file it
  names (tracker lists, the cookie database) or an option's value (--state, consent_state,
  the X-Consent-State header); the message starts with where: FILE:LINE, or the option.
- UsageError: the command cannot run as asked: something it needs is missing (the signing
  secret, an upstream, a records store) or options do not go together.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; the message says how."""


class UsageError(UserError):
    """Something the operator must fix before the command can run."""


class ConfigError(UserError):
    """A value the user wrote is wrong; the message names where (FILE:LINE) and the fix."""

    def __init__(self, source: str, line: int | None, message: str):
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")
        self.source, self.line = source, line
