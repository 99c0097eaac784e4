"""The rewriter's skip loop in C (everything else is in pyproject.toml).

Optional: without a compiler the pure-Python scanner gives the same bytes, slower;
`make install` checks that it was built.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("consentproxy.rewrite._skip",
                             ["src/consentproxy/rewrite/_skip.c"], optional=True)])
