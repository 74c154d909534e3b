"""The study team's side: what coordinators, monitors and operators may do, and doing it.

One service (`service.Coordination`) that the console, the Telegram coordinator commands and
the `intake` command all call for referrals, their cards and follow-up, exports, erasure, the
funnel and the "other studies" list; one permission table (`permissions`); one audit
vocabulary (`audit`); and what they render (`cards`, `reports`, `fhir`, `other_studies`).
"""
