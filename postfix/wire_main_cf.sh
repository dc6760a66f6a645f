#!/usr/bin/env bash
# Step 3 of postfix/setup.sh: Mailgate's settings in main.cf, with `postconf -e`, adding to
# what is there (relay domains, transport maps, virtual alias maps, milters) and idempotent:
# a second run changes nothing. Its own script so that it can be run, and tested, against
# any configuration directory.
#
#   postfix/wire_main_cf.sh DOMAIN...      (MAIL_CONFIG=DIR: another Postfix configuration)
#
# It writes mailgate_transport (the safety net) and mailgate_virtual (postmaster@, abuse@) next
# to main.cf, adds the safety net's service (mailgate-refuse) to master.cf, and exits 1 with one line when a domain is local to Postfix or
# non_smtpd_milters names Mailgate.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { printf 'setup.sh: %s\n' "$*" >&2; exit 1; }
DOMAINS="$*"
[ -n "$DOMAINS" ] || die "usage: wire_main_cf.sh DOMAIN..."
conf="$(postconf -h config_directory)"  # /etc/postfix, or MAIL_CONFIG

for d in $DOMAINS; do
  for p in mydestination virtual_alias_domains virtual_mailbox_domains; do  # as `mailgate check`
    if postconf -xh "$p" | tr ', ' '\n\n' | grep -qix "$d"; then
      die "$d is in $p; Mailgate's domains must be relay domains only (remove it from $p)"
    fi
  done
done
relay="$(postconf -nh relay_domains)"  # -n: only what is set, not the default expression
for d in $DOMAINS; do
  printf '%s\n' $relay | tr -d ',' | grep -qix "$d" || relay="${relay:+$relay, }$d"
done
postconf -e "relay_domains = $relay"

# The safety net refuses (bounces) what reaches it instead of dropping it: a pipe(8) service that
# exits EX_NOUSER. Not error: (smtpd would refuse the whole domain at RCPT, before the milter).
postconf -Me "mailgate-refuse/unix=mailgate-refuse unix - n n - - pipe user=nobody argv=/bin/sh -c \
{echo 5.1.1 NOT-CONSUMED-BY-MAILGATE: no such address, the message did not pass the Mailgate milter; exit 67}"
{ echo "# Written by Mailgate's postfix/setup.sh; safety net, see postfix/main.cf.snippet."
  for d in $DOMAINS; do echo "$d mailgate-refuse:"; done; } > "$conf/mailgate_transport"
transport="$(postconf -nh transport_maps)"
case "$transport" in
  *texthash:$conf/mailgate_transport*) ;;
  *) postconf -e "transport_maps = texthash:$conf/mailgate_transport${transport:+, $transport}" ;;
esac

# postmaster@ and abuse@ Mailgate's domains reach a person, not the safety net (after any
# virtual alias maps already there, so an admin's own entries for them win).
"$here/mailgate_virtual.sh" $DOMAINS > "$conf/mailgate_virtual"
virtual="$(postconf -nh virtual_alias_maps)"
case "$virtual" in
  *texthash:$conf/mailgate_virtual*) ;;
  *) postconf -e "virtual_alias_maps = ${virtual:+$virtual, }texthash:$conf/mailgate_virtual" ;;
esac

# recipient_delimiter is left as the admin has it: Mailgate's domains are relay domains and
# the milter reads the whole RCPT argument, so nothing of Mailgate's depends on it.
postconf -e "milter_protocol = 6" "milter_default_action = tempfail"
entry="{ unix:/mailgate/milter.sock, default_action=tempfail, connect_timeout=10s, command_timeout=30s, content_timeout=120s }"
milters="$(postconf -nh smtpd_milters)"
case "$milters" in
  *unix:/mailgate/milter.sock*) ;;
  *) postconf -e "smtpd_milters = ${milters:+$milters, }$entry" ;;
esac
case "$(postconf -h non_smtpd_milters)" in
  *mailgate/milter.sock*) die "non_smtpd_milters names Mailgate's socket; remove it (sendmail mail cannot be refused at RCPT)" ;;
esac
