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
