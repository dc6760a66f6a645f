#!/usr/bin/env bash
# Print Mailgate's virtual_alias_maps file for the domains given as arguments:
# postmaster@ and abuse@ each domain go to this machine's postmaster (and abuse).
#
#   postfix/mailgate_virtual.sh DOMAIN... > /etc/postfix/mailgate_virtual
#
# Why: they are reserved names, never Mailgate addresses, so the milter lets them
# pass, and the whole-domain safety net (mailgate_transport) would bounce them. RFC 5321 4.5.1 and RFC 2142 want them read by a
# person. Unqualified targets get @$myorigin, i.e. local delivery, where the aliases
# table sends postmaster to root. abuse goes to a local `abuse` when the aliases (or
# the passwd file) have one, else to postmaster too. postconf honours MAIL_CONFIG.
set -euo pipefail
abuse=postmaster
for map in $(postconf -xh alias_maps | tr ',' ' '); do
  if postmap -q abuse "$map" >/dev/null 2>&1; then abuse=abuse; break; fi
done
getent passwd abuse >/dev/null 2>&1 && abuse=abuse
echo "# Written by Mailgate's postfix/setup.sh (postfix/mailgate_virtual.sh); regenerated on every run."
for d in "$@"; do
  echo "postmaster@$d postmaster"
  echo "abuse@$d $abuse"
done
