"""`mailgate imap`: read a mailbox over IMAP, hand each message of ours to receive(), then remove it."""
