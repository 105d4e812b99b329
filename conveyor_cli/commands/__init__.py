"""One module per ``conveyor`` command; each reads through a ``Target`` and renders via ``render``."""
