"""The bot's own texts. Each is an English gettext message id, translated where shown.

Placeholders use `{name}` and are filled in by the translator call, never by
concatenation, so a translation may move them anywhere in the sentence.

Some texts are worded otherwise for a relative or carer answering for the person
(`FOR_A_RELATIVE`), or on a channel whose page has buttons where the others have
/commands (`ON_CHANNEL`); `dialogs.prompts` picks the wording.
"""

from dialogs.trial import N_

CHOOSE_LANGUAGE = N_("Please choose your language.")
CONSENT_CHANGED = N_(
    "What we tell you about how your answers are kept has changed since you last answered. "
    "Please read it again: you can continue if you agree."
)
WELCOME_BACK = N_("Welcome back! Let's continue where you left off.")
PAUSED = N_("Paused. Your answers so far are saved. Send any message when you want to continue.")
HELP = N_(
    "I ask the study's pre-screening questions one at a time.\n"
    "/back goes back one question, /restart starts again, /stop pauses (your answers are kept), "
    "/language changes the language, /voice reads each question aloud, "
    "/delete erases everything you told us."
)
# TRANSLATORS: on the web page. {back}, {restart}, {stop}, {language}, {voice} and {delete} are its
# buttons' labels (Back, Start again, Pause, Language, Read aloud, Delete my data) as translated here.
HELP_WEB = N_(
    "I ask the study's pre-screening questions one at a time.\n"
    "At the bottom of the page: “{back}” goes back one question, “{restart}” starts again, "
    "“{stop}” pauses (your answers are kept), “{language}” changes the language, "
    "“{voice}” reads each question aloud, “{delete}” erases everything you told us."
)
UNKNOWN_COMMAND = N_("I don't know that command.")
UNSUPPORTED = N_(
    "Sorry, I can only read written answers and chosen options here. Please answer the question below."
)
READ_ALOUD_ON = N_("From now on I will also read each question aloud. Send /voice again to stop.")
# TRANSLATORS: on the web page; {voice} is its button "Read aloud" as translated here.
READ_ALOUD_ON_WEB = N_("From now on I will also read each question aloud. Tap “{voice}” again to stop.")
READ_ALOUD_OFF = N_("I will stop reading the questions aloud.")
# A recording the bot could not use: nothing changes, and the question is asked again.
VOICE_TOO_LONG = N_("That recording is longer than a minute. Please say just the answer, or type it.")
VOICE_MISSING = N_("No recording came with that. Please record your answer first, or type it.")
VOICE_UNREADABLE = N_("I could not play that recording. Please try again, or type your answer.")
VOICE_SILENT = N_("I could not hear anything in that recording. Please try again, or type your answer.")
VOICE_UNHEARD = N_("I did not catch that for sure. Please say it again, or type your answer.")
VOICE_BUSY = N_("Many people are talking to me right now. Please try again in a minute, or type your answer.")
VOICE_UNAVAILABLE = N_("I cannot understand spoken answers in this language yet. Please type your answer.")
EDITED = N_(
    "Editing a message does not change an answer. To change one, send /back, or use the summary at the end."
)
MOVED_ON = N_("That question has moved on. Here is the current one.")
CROSSED = N_(
    "Your message was sent before this question reached you, so I have not used it as the answer. "
    "Here is the question:"
)
UNDELIVERED = N_(
    "Sorry, my last message may not have reached you, so I have not used your answer. "
    "Here is the question to answer now:"
)
FIRST_QUESTION = N_("This is the first question; there is nothing to go back to.")

NOT_UNDERSTOOD_CHOICE = N_("Sorry, I didn't understand. Please choose one of the answers.")
NOT_UNDERSTOOD_YES_NO = N_("Sorry, I didn't understand. Please answer yes, no or I don't know.")
HEDGED = N_(
    "It sounds as if you are not sure. Please choose the answer that fits best. "
    "If you don't know, that is a fine answer: the study team will check it with you."
)
HEDGED_NUMBER = N_("I need one exact number here. If you are not sure, give your best single number.")
CONSENT_UNCLEAR = N_(
    "Nothing is recorded until you choose one of the two answers. Your answers are used only for "
    "this pre-screening, only the study team can see them, and you can have everything deleted at "
    "any time with /delete. If you have questions, the study team will gladly answer them."
)
# TRANSLATORS: on the web page; {delete} is its button "Delete my data" as translated here.
CONSENT_UNCLEAR_WEB = N_(
    "Nothing is recorded until you choose one of the two answers. Your answers are used only for "
    "this pre-screening, only the study team can see them, and you can have everything deleted at "
    "any time with the “{delete}” button. If you have questions, the study team will gladly answer them."
)
# The answer is quoted in its option's own words, with what it answers: a bare "I understood: No"
# after "I'm a man" reads as agreement with the person's words, not as the answer stored.
READ_BACK = N_('You wrote: "{said}"\nI understood your answer to “{question}” as: “{answer}”\nIs that right?')
HEARD_BACK = N_('I heard: "{said}"\nI understood your answer to “{question}” as: “{answer}”\nIs that right?')
READ_BACK_YES = N_("Yes, that's right")
READ_BACK_NO = N_("No, let me answer again")
ANSWER_AGAIN = N_("All right. Please answer again:")
# Something else than "yes" or "no" typed at a read-back ("she is 67"): kept for the next question.
READ_BACK_FIRST = N_(
    "First, please tell me whether I understood your answer above. "
    "Then I will read what you just wrote with the next question."
)
NOT_UNDERSTOOD_NUMBER = N_(
    "Please answer with a whole number between {min} and {max}, for example {example}."
)
NOT_UNDERSTOOD_PHONE = N_(
    "That does not look like a phone number. "
    "Please give the number digit by digit, for example +86 138 0000 0000."
)
TEXT_EMPTY = N_("Please type your answer.")
TEXT_TOO_LONG = N_("That is too long. Please answer in at most {max} characters.")
TOO_LONG_FOR_CHOICE = N_("That message is too long for this question.")

SUMMARY_INTRO = N_("Here is what you told us. Please check it:")
# TRANSLATORS: what stands between a label and its value in the summary ("Age: 42"), spaces included.
LABEL_SEPARATOR = N_(": ")
CONFIRM = N_("That's correct, send it")
CHANGE = N_("Change an answer")
WHICH_ANSWER = N_("Which answer would you like to change?")
BACK_TO_SUMMARY = N_("Back to the summary")

NOT_ELIGIBLE_INTRO = N_(
    "Thank you for your answers. From what you told us, this study is probably not a match, because:"
)
NOT_ELIGIBLE_NOTE = N_("This is not a medical decision. If an answer was wrong, send /back to change it.")
# TRANSLATORS: on the web page; {back} is its button "Back" as translated here.
NOT_ELIGIBLE_NOTE_WEB = N_(
    "This is not a medical decision. If an answer was wrong, tap “{back}” to change it."
)
OTHER_STUDIES = N_("Would you like us to tell you about other studies that might suit you?")
OTHER_STUDIES_FOR_A_RELATIVE = N_(
    "Would you like us to tell you about other studies that might suit the person you are answering for?"
)
OTHER_STUDIES_LABEL = N_("News of other studies")
EXCLUDED_FOR_NOW = N_(
    "This is only for now: from {date} the study may be able to include you. Would you like a reminder then?"
)
REMIND_YES = N_("Yes, remind me")
REMIND_NO = N_("No, thank you")
REMINDER_SET = N_("All right: we will remind you on {date}.")
REMINDER_SET_HERE = N_(
    "All right. From {date}, the study team may contact you about it, and you can answer again here "
    "at any time from then."
)
REMINDER_DUE = N_(
    "Hello again! From today, the study “{title}” at Xuanwu Hospital may be able to include you. "
    "Send any message to answer again: only what may have changed is asked."
)
RESCREEN = N_("Welcome back! Only the questions whose answers may have changed are asked again.")
ANOTHER_STUDY = N_(
    "Xuanwu Hospital also runs another study that may suit you, or the person you are answering for: "
    "“{title}”. It is a different study, with its own study team. It will first ask you to agree to how "
    "it keeps your answers, and it will not ask again what you have already told us that it needs. "
    "Would you like to go on with it now?"
)
ANOTHER_STUDY_YES = N_("Yes, go on with that study")
ANOTHER_STUDY_NO = N_("No, thank you")
ANOTHER_STUDY_LATER = N_(
    "All right. We have noted that you would like to hear about other studies. You can also start "
    "that study at any time: send /start."
)
DELETE_LABEL = N_("Erase everything")
OTHER_STUDIES_YES = N_("Yes, please")
OTHER_STUDIES_NO = N_("No, thank you")
# Nothing sends such messages (and the web chat could not): say only what was done.
OTHER_STUDIES_THANKS = N_(
    "Thank you. We have noted that you would like to hear about other studies that might suit you."
)
OTHER_STUDIES_THANKS_FOR_A_RELATIVE = N_(
    "Thank you. We have noted that you would like to hear about other studies that might suit "
    "the person you are answering for."
)
GOODBYE = N_("Thank you for your time. We wish you good health.")

MAY_BE_CANDIDATE = N_(
    "Thank you! From your answers, you may be a candidate for this study. "
    "The study team decides who can take part."
)
MAY_BE_CANDIDATE_FOR_A_RELATIVE = N_(
    "Thank you! From your answers, the person you are answering for may be a candidate for this study. "
    "The study team decides who can take part."
)
# Said whatever the words of the unsure answers were: "I don't know", "I'm not sure", "Never tested…".
NEEDS_REVIEW = N_(
    "Thank you! Some answers are not certain yet, so the study team will need to check them with you. "
    "You may be a candidate for this study; the study team decides who can take part."
)
NEEDS_REVIEW_FOR_A_RELATIVE = N_(
    "Thank you! Some answers are not certain yet, so the study team will need to check them with you. "
    "The person you are answering for may be a candidate for this study; the study team decides who can "
    "take part."
)
# The reference is a code of letters and digits: say what it is for.
WILL_CONTACT = N_(
    "The study team will contact you. Your reference is {reference}: please keep it, "
    "and give it if you contact the study team yourself."
)
CONTACT_THEM = N_("If you would like to talk to the study team, you can contact: {contact}.")

DECLINED = N_(
    "No problem. Nothing you told us has been kept. If you change your mind, send any message to begin again."
)
FINISHED_REFERRED = N_(
    "You have finished this pre-screening, and the study team will contact you. "
    "Your reference is {reference}."
)
FINISHED_CONTACT_THEM = N_(
    "You have finished this pre-screening. If you would like to talk to the study team, "
    "you can contact: {contact}."
)
FINISHED_NOT_A_MATCH = N_(
    "You have finished this pre-screening. From your answers, this study is probably not a match."
)
FINISHED_OPTIONS = N_("Send /restart to answer again, or /delete to erase your data.")
# TRANSLATORS: on the web page; {restart} and {delete} are its buttons "Start again" and "Delete my data".
FINISHED_OPTIONS_WEB = N_("To answer again, tap “{restart}”; to erase your data, tap “{delete}”.")
CONFIRM_DELETE = N_("Do you want us to delete everything you have told us? This cannot be undone.")
DELETE_YES = N_("Yes, delete my data")
DELETE_NO = N_("No, keep it")
DELETED = N_(
    "Your data has been deleted. Thank you for your time. Send any message if you want to begin again."
)
NOT_DELETED = N_("Nothing was deleted.")
CONFIRM_RESTART = N_(
    "Start again from the first question? Your answers so far will be cleared; what you agreed to stays."
)
RESTART_YES = N_("Yes, start again")
RESTART_NO = N_("No, continue")

# The web page's buttons (bot/web), by the command each sends: its texts name them.
WEB_BUTTONS = (
    ("back", N_("Back")),
    ("restart", N_("Start again")),
    ("language", N_("Language")),
    ("voice", N_("Read aloud")),
    ("stop", N_("Pause")),
    ("help", N_("Help")),
    ("delete", N_("Delete my data")),
)

# Worded otherwise when a relative or carer answers for the person (the answer to the trial's
# `variant_by` question is "proxy"): "you may be a candidate" would say it of them.
FOR_A_RELATIVE = {
    MAY_BE_CANDIDATE: MAY_BE_CANDIDATE_FOR_A_RELATIVE,
    NEEDS_REVIEW: NEEDS_REVIEW_FOR_A_RELATIVE,
    OTHER_STUDIES: OTHER_STUDIES_FOR_A_RELATIVE,
    OTHER_STUDIES_THANKS: OTHER_STUDIES_THANKS_FOR_A_RELATIVE,
}
# Worded otherwise per channel: the web page has buttons where the other channels have /commands,
# and its wording names them ({back}… are their labels, `WEB_BUTTONS`).
ON_CHANNEL = {
    "web": {
        HELP: HELP_WEB,
        READ_ALOUD_ON: READ_ALOUD_ON_WEB,
        CONSENT_UNCLEAR: CONSENT_UNCLEAR_WEB,
        NOT_ELIGIBLE_NOTE: NOT_ELIGIBLE_NOTE_WEB,
        FINISHED_OPTIONS: FINISHED_OPTIONS_WEB,
    },
}
CHANNEL_LABELS = {"web": WEB_BUTTONS}
