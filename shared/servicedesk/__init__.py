"""Service desk: people without an account write to a support address and get answers by email.

docs/service-desk.md says what it does; the modules hold:

- `participants.py`  the external participants of a task as plain rows, and the Support identity
- `acknowledgement.py`  the acknowledgement's template: default, checks, rendering
- `notices.py`  what is mailed to participants (acknowledgement, public comments), and how it is threaded
- `unsubscribe.py`  List-Unsubscribe (mailto and RFC 8058 one-click) and what unsubscribing does
"""
