"""The packaged whisper models, for tests and benchmarks: the bot's own defaults, from
`bot.speech.models` (tiny.en where pip installed it; the multilingual base assembled in a folder
of the caller's), each checked against its pinned sha256."""

from bot.speech.models import english, multilingual

__all__ = ["english", "multilingual"]
