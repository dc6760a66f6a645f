"""`mailgate ingress`: the public listener for the providers' inbound webhooks (never the console)."""
