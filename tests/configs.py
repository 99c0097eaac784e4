"""Config texts several test modules build on."""

# The four usual categories (the Open Cookie Database's and the knowledge base's map onto
# them one to one), no service.
FOUR_CATEGORIES = """\
upstream: http://127.0.0.1:9
categories:
  necessary: {required: true}
  analytics: {}
  advertising: {}
  social: {}
"""

# A service on a path of the site's own host (a self-hosted Matomo), and paths a browser
# sends as they are that an origin (nginx, Apache) serves from under it, or not.


def matomo_at(host: str) -> str:
    """A services section: Matomo self-hosted at host/matomo/ (a function, not a config
    text: test_config_fuzz reads each upper-case string here as a config)."""
    return f"services:\n  - {{name: matomo, category: analytics, hosts: [{host}/matomo/]}}\n"


SERVED_UNDER_MATOMO = (
    "//matomo/m.js",
    "/%6Datomo/m.php",
    "/%6datomo%2Fm.js",
    "/js/..%2Fmatomo/m.js",
    "/js/%2e%2e%2Fmatomo/m.js",
    "/js/.%2E/.//matomo/m.js",
)
NOT_UNDER_MATOMO = (
    "/js/matomo/m.js",
    "/matomo%2E/m.js",
    "/%2Fmatomo",
    "/matomo.js",
    "/x/%25%36datomo/",
)
