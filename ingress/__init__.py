"""Ways in beside the milter: the IMAP poller and the public webhook listener.

An adapter like milter/ and webui/: it calls mailgate.shared (every message
goes through the same receive(), with its own `source`), and shared never
imports it. docs/ingress.md compares the ways in.
"""
