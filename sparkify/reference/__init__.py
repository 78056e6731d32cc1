"""The manual's reference, generated from the code (``docs/hooks.py``)."""
