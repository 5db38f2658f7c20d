"""Floor 4, the command line: one module per command group, registered by main.py; may import every floor."""
