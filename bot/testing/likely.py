"""What a likely candidate of the first trial types at each question, by question id: the benches and
the instances test answer the question the bot asks, never a list by position."""

from __future__ import annotations

# What a likely candidate types at each question, by the question's id: the bench answers the
# question the bot asks, so a question added, skipped or moved never shifts an answer onto another
# (a list by position once stored "yes" as the name). In the trial's order; "summary" ends it.
ANSWERS = {
    "consent_storage": "yes",
    "consent_contact": "yes",
    "respondent": "1",
    "age": "42",
    "diagnosis": "yes",
    "had_surgery": "yes",
    "surgery_year_ago": "yes",
    "mri_shrunk": "yes",
    "symptoms_course": "about the same",
    **dict.fromkeys(
        ("diabetes", "heart_disease", "liver_kidney", "heart_abnormality", "other_cns_disease"), "no"
    ),
    **dict.fromkeys(("back_infection", "autoimmune", "biologic_allergy", "recent_study"), "no"),
    "follow_plan": "yes",
    "pregnancy": "no",
    "serology": "Tested, all negative",
    "travel": "yes",
    "contact_name": "Li Wei",
    "contact_phone": "+86 138 1234 5678",
    "_confirm": "1",  # an answer read back: "yes, that's right"
    "summary": "1",
}
