"""Plugins that ship with the core: the offline ``echo`` provider and the SQLite store."""
