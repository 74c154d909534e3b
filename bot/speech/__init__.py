"""Voice: spoken answers turned into text (speech-to-text), and questions read aloud
(text-to-speech). Audio is decoded in memory and never kept; what is heard goes to the
engine as a transcript, which it always reads back before storing anything."""
