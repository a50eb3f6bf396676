"""``python -m hdrlift`` (also what ``torchrun -m hdrlift`` runs)."""

from hdrlift.cli.main import entry

entry()
