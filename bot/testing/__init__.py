"""What the tests and the benchmarks drive the bot with: a local fake of the Telegram Bot API,
and the Telegram application started against it. Not used in production (it needs the dev extras)."""
