"""Channels: console, Telegram, web — thin adapters over the dialog engine."""
