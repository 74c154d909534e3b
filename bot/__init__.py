"""Channels (the console, Telegram) as thin adapters over the dialog engine; notifications; the CLI."""
