"""The command line, one more way in: one module per command group, registered by main.py."""
