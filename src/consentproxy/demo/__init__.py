"""The demo legacy origin (`origin.py`) and the bundled demo site it serves (`pages/`)."""
