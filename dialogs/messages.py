"""The bot's own texts. Each is an English gettext message id, translated where shown.

Placeholders use `{name}` and are filled in by the translator call, never by
concatenation, so a translation may move them anywhere in the sentence.
"""

from dialogs.trial import N_

CHOOSE_LANGUAGE = N_("Please choose your language.")
CONSENT_CHANGED = N_(
    "What we tell you about how your answers are kept has changed since you last answered. "
    "Please read it again: you can continue if you agree."
)
WELCOME_BACK = N_("Welcome back! Let's continue where you left off.")
PAUSED = N_("Paused. Your answers so far are saved. Send /start or any message when you want to continue.")
HELP = N_(
    "I ask the study's pre-screening questions one at a time. Tap a button or type your answer.\n"
    "/back goes back one question, /restart starts again, /stop pauses (your answers are kept), "
    "/language changes the language, /delete erases everything you told us."
)
UNKNOWN_COMMAND = N_("I don't know that command.")
UNSUPPORTED = N_(
    "Sorry, I can only read text messages and button taps here. Please answer the question below."
)
EDITED = N_(
    "Editing a message does not change an answer. To change one, send /back, or use the summary at the end."
)
MOVED_ON = N_("That question has moved on. Here is the current one.")
FIRST_QUESTION = N_("This is the first question; there is nothing to go back to.")

NOT_UNDERSTOOD_CHOICE = N_("Sorry, I didn't understand. Please tap one of the buttons, or type its number.")
NOT_UNDERSTOOD_YES_NO = N_(
    "Sorry, I didn't understand. Please tap a button, or answer yes, no or I don't know."
)
NOT_UNDERSTOOD_NUMBER = N_("Please type a whole number between {min} and {max}, for example {example}.")
NOT_UNDERSTOOD_PHONE = N_(
    "That does not look like a phone number. Please type the number in digits, for example +86 138 0000 0000."
)
TEXT_EMPTY = N_("Please type your answer.")
TEXT_TOO_LONG = N_("That is too long. Please answer in at most {max} characters.")
TOO_LONG_FOR_CHOICE = N_("That message is too long for this question.")

SUMMARY_INTRO = N_("Here is what you told us. Please check it:")
CONFIRM = N_("That's correct, send it")
CHANGE = N_("Change an answer")
WHICH_ANSWER = N_("Which answer would you like to change?")
BACK_TO_SUMMARY = N_("Back to the summary")

NOT_ELIGIBLE_INTRO = N_(
    "Thank you for your answers. From what you told us, this study is probably not a match, because:"
)
NOT_ELIGIBLE_NOTE = N_("This is not a medical decision. If an answer was wrong, send /back to change it.")
OTHER_STUDIES = N_("Would you like us to tell you about other studies that might suit you?")
OTHER_STUDIES_YES = N_("Yes, please")
OTHER_STUDIES_NO = N_("No, thank you")
OTHER_STUDIES_THANKS = N_("Thank you. We will message you here if another study might suit you.")
GOODBYE = N_("Thank you for your time. We wish you good health.")

MAY_BE_CANDIDATE = N_(
    "Thank you! From your answers, you may be a candidate for this study. "
    "The study team decides who can take part."
)
NEEDS_REVIEW = N_(
    'Thank you! Some answers were "I don\'t know", so the study team will need to check them with you. '
    "You may be a candidate for this study; the study team decides who can take part."
)
WILL_CONTACT = N_("The study team will contact you. Your reference is {reference}.")
CONTACT_THEM = N_("If you would like to talk to the study team, you can contact: {contact}.")

DECLINED = N_("No problem. Nothing you told us has been kept. If you change your mind, send /start.")
ALREADY_FINISHED = N_(
    "You have finished this pre-screening. Send /restart to answer again, or /delete to erase your data."
)
CONFIRM_DELETE = N_("Do you want us to delete everything you have told us? This cannot be undone.")
DELETE_YES = N_("Yes, delete my data")
DELETE_NO = N_("No, keep it")
DELETED = N_("Your data has been deleted. Thank you for your time. Send /start if you want to begin again.")
NOT_DELETED = N_("Nothing was deleted.")
CONFIRM_RESTART = N_("Start again from the first question? Your answers so far will be cleared.")
RESTART_YES = N_("Yes, start again")
RESTART_NO = N_("No, continue")
