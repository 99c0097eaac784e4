"""The consent banner: server-rendered markup (render.py), its texts and theme, and the
page script (guard.js + banner.js, served as one consent.js) with the known trackers' domains
it holds (domainset.py)."""
