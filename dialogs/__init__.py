"""The dialog: trial definitions, the state machine, eligibility, understanding answers."""
