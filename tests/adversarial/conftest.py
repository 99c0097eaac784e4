"""The two-adapter fixtures of the HTTP suite, for the fault tests."""

from tests.test_server import adapter, start_proxy  # noqa: F401 (fixtures)
