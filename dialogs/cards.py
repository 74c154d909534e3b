"""Kept for `dialogs.prompts`, which imports `answer_text` from here: it now lives in
`dialogs.wording`, and coordinators' cards in `bot.coordination.cards`. Remove this module once
`dialogs.prompts` imports `dialogs.wording`."""

from dialogs.wording import answer_text as answer_text
