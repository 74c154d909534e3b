"""Texts the channels add around the dialog: buttons, command descriptions, coordinator replies."""

from dialogs.messages import WEB_BUTTONS as WEB_BUTTONS  # the dialog's web wording names the page's buttons
from dialogs.trial import N_

SHARE_PHONE = N_("Share my phone number")
PRIVATE_ONLY = N_("To protect your privacy I only talk about health in a private chat. Please open: {link}")
CHOSEN = N_("Your answer: {answer}")
# How to answer on each channel, said after help and after an answer that could not be used.
HOW_TO_ANSWER_CONSOLE = N_("Type the number of an answer, or answer in your own words.")
HOW_TO_ANSWER_TELEGRAM = N_("Tap a button, or type your answer.")
STUDY_TEAM_ONLY = N_("This command is for the study team.")
NO_OPEN_REFERRALS = N_("No open referrals.")
MORE_OPEN_REFERRALS = N_("More are waiting: the console's call list shows them all, oldest first.")
REFERRAL_STATUS = N_("Status: {status} ({who}, {when})")

# What each command does, as Telegram's command menu shows it (setMyCommands).
COMMANDS = (
    ("start", N_("Begin, or continue where you left off")),
    ("back", N_("Go back one question")),
    ("restart", N_("Start again from the first question")),
    ("stop", N_("Pause; your answers are kept")),
    ("language", N_("Change the language")),
    ("voice", N_("Read the questions aloud, or stop")),
    ("help", N_("What I expect and how to use me")),
    ("delete", N_("Erase everything you told me")),
)
COORDINATOR_COMMANDS = (
    ("referrals", N_("Open referrals")),
    ("export", N_("Referrals with answers, as CSV")),
    ("stats", N_("Recruitment funnel by language and source")),
)

# The web chat's own words.
WEB_TITLE = N_("Study pre-screening")
# What a search engine or a link preview shows of the page.
WEB_DESCRIPTION = N_(
    "Answer a few questions to see whether a clinical study may suit you. Nothing is kept unless you agree."
)
WEB_ANSWER = N_("Your answer")
WEB_SEND = N_("Send")
WEB_SPEAK = N_("Answer by voice")
WEB_RECORDING = N_("Send a recording")
WEB_RECORD = N_("Tap to record")
WEB_STOP = N_("Tap to stop and send")
WEB_LISTENING = N_("Listening to your recording…")
WEB_VOICE_NOT_SENT = N_("Your recording did not reach us. Please try again, or type your answer.")
# TRANSLATORS: what a screen reader calls the row of buttons Back, Start again, Language… on the web page.
WEB_COMMANDS = N_("Other actions")
WEB_MAKE_LINK = N_("Continue on another device")
WEB_CONTINUE = N_("Go to the pre-screening")
WEB_FORM_EXPIRED = N_("This page was out of date, so your answer was not used. Please answer again.")
WEB_LINK_EXPIRED = N_(
    "This link has expired: for your privacy, a link works for {days} days only. On the device "
    "where you began, make a new one from the pre-screening's page."
)
WEB_TOO_MANY_NEW = N_(
    "Many people have just started from your network. Please wait a minute and open the page again."
)
WEB_TOO_BIG = N_("That was too much to send at once. Please go back and send a shorter answer or recording.")
WEB_TOO_MANY = N_("Too many requests at once. Please wait a minute and try again.")
WEB_LINK_UNKNOWN = N_("This link is not valid. Please check that it was copied in full.")
HOW_TO_ANSWER_WEB = N_("Tap an answer, or type it in the box below.")

# The coordinator console's own words.
CONSOLE_TITLE = N_("Coordinator console")
CONSOLE_SIGN_IN = N_("Sign in")
CONSOLE_SIGN_OUT = N_("Sign out")
CONSOLE_NAME = N_("Account name")
CONSOLE_PASSWORD = N_("Password")
CONSOLE_CODE = N_("Code from your authenticator app (if you use one)")
CONSOLE_REFUSED = N_("Those details are not right, or there were too many tries. Please try again later.")
CONSOLE_REFERRALS = N_("Referrals")
CONSOLE_CALLS = N_("Call list")
CONSOLE_FUNNEL = N_("Funnel")
CONSOLE_EXPORTS = N_("Exports")
CONSOLE_AUDIT = N_("Audit trail")
CONSOLE_FILTER = N_("Filter")
CONSOLE_ANY = N_("any")
CONSOLE_FROM = N_("From")
CONSOLE_TO = N_("To")
CONSOLE_SEARCH = N_("Reference")
CONSOLE_NONE_FOUND = N_("No referrals.")
# A link under a list shown a page at a time: the page after this one.
CONSOLE_NEXT = N_("Next page")
CONSOLE_ANSWERS = N_("Answers")
CONSOLE_HISTORY = N_("History")
CONSOLE_NEW_STATUS = N_("Record what happened")
CONSOLE_NOTE = N_("Note")
CONSOLE_SAVE = N_("Save")
CONSOLE_CALLS_INTRO = N_("New and unreachable referrals, oldest first: who to call today.")
CONSOLE_TOTAL = N_("All")
CONSOLE_EXPORT_CONTACT = N_("Call list (CSV)")
CONSOLE_EXPORT_FULL = N_("Full, with every answer (CSV)")
CONSOLE_EXPORT_DEIDENTIFIED = N_("De-identified (CSV)")
CONSOLE_EXPORT_FHIR_FULL = N_("Every screening, in full (FHIR R4 JSON)")
CONSOLE_EXPORT_FHIR_DEIDENTIFIED = N_("Every screening, de-identified (FHIR R4 JSON)")
CONSOLE_WHEN = N_("When")
CONSOLE_WHO = N_("Who")
CONSOLE_WHAT = N_("What")
CONSOLE_NOT_ALLOWED = N_("Your account cannot do that.")
CONSOLE_NOT_FOUND = N_("There is no such referral, or it is not one of your trials'.")

# The coordinator console: one's own account.
CONSOLE_ACCOUNT = N_("Your account")
CONSOLE_CHANGE_PASSWORD = N_("Change your password")
CONSOLE_CURRENT_PASSWORD = N_("Current password")
CONSOLE_NEW_PASSWORD = N_("New password (12 to 128 characters)")
CONSOLE_NEW_PASSWORD_AGAIN = N_("New password again")
CONSOLE_WRONG_PASSWORD = N_(
    "That is not your current password, or there were too many tries: please wait a little."
)
CONSOLE_PASSWORD_UNACCEPTABLE = N_(
    "The new password was not changed: it must be 12 to 128 characters, not your account name, "
    "and typed the same twice."
)
CONSOLE_PASSWORD_CHANGED = N_("Your password is changed. Your other sessions have ended.")
CONSOLE_CHANGE_SECOND_FACTOR = N_("Set up a new second factor")
CONSOLE_SCAN = N_(
    "Scan this code with your authenticator app, or type in the key {key}. Then type the code the app shows."
)
CONSOLE_CODE_NOW = N_("Code from your authenticator app")
CONSOLE_CODE_WRONG = N_("That code is not right. Please type the code the app shows now.")
CONSOLE_SECOND_FACTOR_CHANGED = N_("Your new second factor is set up. Your other sessions have ended.")
CONSOLE_SUBJECT = N_("About")
CONSOLE_DETAIL = N_("Details")
CONSOLE_TRIAL = N_("Trial")

# The coordinator console: people who would like to hear about other studies.
CONSOLE_OTHER_STUDIES = N_("Other studies")
CONSOLE_OTHER_STUDIES_INTRO = N_(
    "People your trials found probably not eligible who would like to hear about other studies, "
    "with the trials served here that their answers do not rule out. Contact details show only "
    "where the person agreed to be contacted."
)
CONSOLE_SCREENING = N_("Screening")
CONSOLE_FINISHED = N_("Finished")
CONSOLE_NOT_ELIGIBLE_BECAUSE = N_("Not eligible because of")
CONSOLE_MAY_FIT = N_("May fit")
CONSOLE_NO_CONTACT = N_("no contact details shared")
CONSOLE_NOBODY = N_("Nobody yet.")
# The coordinator console: web users whose study may include them now, waiting to be told.
CONSOLE_RESCREENING = N_("Due for re-screening")
CONSOLE_RESCREENING_INTRO = N_(
    "People your trials excluded only until a date that has come, who asked to be reminded and "
    "whom the bot cannot message: the web chat's users. Contact details show only where the "
    "person agreed to be contacted."
)
CONSOLE_DUE_ON = N_("Since")
# Telegram: the export policy, as the console applies it.
EXPORT_NOT_HERE = N_("Here you may export only: {kinds}. Other exports are in the coordinator console.")


# The web chat: continuing on another device.
WEB_KEEP_LINK = N_(
    "Open this link on the other device to continue there. It works once, within {days} days. "
    "Whoever has it can see your answers: keep it to yourself."
)
WEB_LINK_USED = N_(
    "This link has been used already: a link works once. On the device where you began, make a "
    "new one from the pre-screening's page."
)
WEB_RESUME_ASK = N_(
    "This link continues a pre-screening begun on another device. Continue it here only if it is "
    "your own: whoever continues it can see its answers."
)
WEB_RESUME_REPLACES = N_(
    "This browser has a pre-screening with answers already. If you continue the other one here, "
    "this browser shows that one instead of yours."
)
WEB_RESUME_CONTINUE = N_("Continue that pre-screening here")
WEB_RESUME_KEEP = N_("No, do not continue it")
