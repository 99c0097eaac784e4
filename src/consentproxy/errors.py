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

import yaml


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


def yaml_tree(text: str, source: str) -> yaml.Node | None:
    """A YAML file's node tree (None for an empty file), for a reader that names each
    mistake's line; a file YAML cannot read is a ConfigError at its line."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise _not_yaml(e, text, source) from None
    except RecursionError:
        raise ConfigError(source, None, "nested too deep to read; fix the structure") from None


def _not_yaml(e: yaml.YAMLError, text: str, source: str) -> ConfigError:
    """A file YAML cannot read (a config, a catalog file), said at its line: for an unclosed
    quote or bracket, where it began too; for a character YAML refuses, which one."""
    mark = getattr(e, "problem_mark", None)
    begun = getattr(e, "context_mark", None)
    where = (
        f" ({e.context} begun on line {begun.line + 1})"  # type: ignore[attr-defined]
        if begun and getattr(e, "context", None) and (not mark or begun.line != mark.line)
        else ""
    )
    line, problem = (mark.line + 1 if mark else None), getattr(e, "problem", e)
    if isinstance(e, yaml.reader.ReaderError):  # (at an offset, not a mark)
        line = text.count("\n", 0, e.position) + 1
        code = e.character if isinstance(e.character, int) else ord(e.character)
        problem = f"character U+{code:04X} ({e.reason})"
    return ConfigError(source, line, f"not valid YAML: {problem}{where}; fix the syntax")
