#!/usr/bin/env bash
# Mailgate's settings in Postfix's main.cf, and taking them back. Its own script so that it
# can be run, and tested, against any configuration directory (MAIL_CONFIG=DIR).
#
#   postfix/wire_main_cf.sh [--tls-cert FILE --tls-key FILE] DOMAIN...
#   postfix/wire_main_cf.sh --unwire
#
# Wiring uses `postconf -e`, adding to what is there (relay domains, transport maps, virtual
# alias maps, milters), and converges: a second run with the same arguments changes nothing.
# It writes, next to main.cf:
#   mailgate_transport        the safety net for Mailgate's domains: the mailgate-refuse service,
#                             which this script adds to master.cf (`postconf -M`)
#   mailgate_virtual          postmaster@ and abuse@ Mailgate's domains (mailgate_virtual.sh)
#   main.cf.before-mailgate   main.cf and master.cf as they were before the first wiring
#   master.cf.before-mailgate (kept until --unwire)
#   mailgate.state            what this script changed: the relay domains it added, each
#                             parameter's value before it was first set, and both files'
#                             digests after the last wiring
# A domain this script added earlier and no longer given (the reply domain changed) leaves
# relay_domains again: Postfix would otherwise accept mail for it and relay it nowhere useful.
#
# --unwire puts main.cf and master.cf back. A file exactly as the last wiring left it gets its
# copy from before, byte for byte; one an admin changed since loses only Mailgate's entries (and
# is kept as main.cf.mailgate-unwire or master.cf.mailgate-unwire for reference).
#
# Exits 1 with one line when a domain is local to Postfix or non_smtpd_milters names Mailgate.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { printf 'wire_main_cf.sh: %s\n' "$*" >&2; exit 1; }

MILTER_SOCKET_NAME="unix:/mailgate/milter.sock"
MILTER_ENTRY="{ $MILTER_SOCKET_NAME, default_action=tempfail, connect_timeout=10s, command_timeout=30s, content_timeout=120s }"
SCALARS=(milter_protocol milter_default_action smtpd_tls_cert_file smtpd_tls_key_file smtpd_tls_security_level)

unwire=0 tls_cert="" tls_key="" domains=()
while [ $# -gt 0 ]; do
  case "$1" in
    --unwire) unwire=1 ;;
    --tls-cert) [ $# -ge 2 ] || die "--tls-cert needs a file"; tls_cert=$2; shift ;;
    --tls-key) [ $# -ge 2 ] || die "--tls-key needs a file"; tls_key=$2; shift ;;
    -*) die "unknown option $1" ;;
    *) domains+=("$1") ;;
  esac
  shift
done
conf="$(postconf -h config_directory)"  # /etc/postfix, or MAIL_CONFIG
main="$conf/main.cf"
master="$conf/master.cf"
state="$conf/mailgate.state"
transport_map="texthash:$conf/mailgate_transport"
virtual_map="texthash:$conf/mailgate_virtual"

digest() { sha256sum "$1" | cut -d' ' -f1; }
state_get() { [ -f "$state" ] && sed -n "s/^$1 //p" "$state" | head -n 1 || true; }
state_has() { [ -f "$state" ] && grep -q "^$1\( \|\$\)" "$state"; }

# The entries of a Postfix list parameter, one per line ("a, b {c, d}" -> a / b / {c, d}).
entries() {
  python3 -c 'import re, sys
for m in re.finditer(r"\{[^}]*\}|[^\s,{}]+", sys.argv[1]):
    print(m.group(0))' "$1"
}
# $1 without the entries for which the python expression $2 (on `e`, the entry) is true, ", "-joined.
without() {
  python3 -c 'import re, sys
keep = [m.group(0) for m in re.finditer(r"\{[^}]*\}|[^\s,{}]+", sys.argv[1])
        if not eval(sys.argv[2], {"e": m.group(0), "gone": sys.argv[3:]})]
print(", ".join(keep))' "$@"
}
# Set a list parameter, or remove it from main.cf when nothing is left of it.
set_list() { if [ -n "$2" ]; then postconf -e "$1 = $2"; else postconf -X "$1"; fi; }

# Remember a parameter's value before this script first changes it (once).
remember() {
  local name=$1
  state_has "was $name" || state_has "unset $name" && return 0
  if postconf -n "$name" 2>/dev/null | grep -q .; then
    printf 'was %s %s\n' "$name" "$(postconf -nh "$name")" >> "$state"
  else
    printf 'unset %s\n' "$name" >> "$state"
  fi
}

unwire_entries() {
  local relay_added=($(state_get relay_added))
  set_list relay_domains "$(without "$(postconf -nh relay_domains)" 'e.lower() in gone' "${relay_added[@]}")"
  set_list transport_maps "$(without "$(postconf -nh transport_maps)" 'e == gone[0]' "$transport_map")"
  set_list virtual_alias_maps "$(without "$(postconf -nh virtual_alias_maps)" 'e == gone[0]' "$virtual_map")"
  set_list smtpd_milters "$(without "$(postconf -nh smtpd_milters)" 'gone[0] in e' "$MILTER_SOCKET_NAME")"
  local name
  for name in "${SCALARS[@]}"; do
    if state_has "unset $name"; then postconf -X "$name"
    elif state_has "was $name"; then postconf -e "$name = $(state_get "was $name")"
    fi
  done
}

# Services this script added to master.cf (`postconf -M` names): taken out by --unwire.
unwire_services() {
  local service
  for service in $(state_get services); do postconf -MX "$service" 2>/dev/null || true; done
}

# restore FILE: its copy from before the first wiring when FILE is exactly as the last wiring
# left it (0), else keep FILE as FILE.mailgate-unwire (1): the caller takes out entries instead.
restore() {
  local file=$1 name
  name=$(basename "$1")
  if [ -f "$file.before-mailgate" ] && [ "$(state_get "restorable_$name")" = yes ] \
     && [ "$(digest "$file")" = "$(state_get "sha256_$name")" ]; then
    cat "$file.before-mailgate" > "$file"  # in place: the file keeps its owner, mode and inode
    echo "wire_main_cf.sh: $file restored as it was before Mailgate"
    return 0
  fi
  cp -p "$file" "$file.mailgate-unwire"
  echo "wire_main_cf.sh: $file was changed since Mailgate wired it: took out Mailgate's entries only" \
       "(the file before that: $file.mailgate-unwire)"
  return 1
}

if [ "$unwire" = 1 ]; then
  [ -f "$state" ] || { echo "wire_main_cf.sh: $main carries no Mailgate wiring (no $state): nothing to undo"; exit 0; }
  restore "$main" || unwire_entries
  restore "$master" || unwire_services
  rm -f "$state" "$main.before-mailgate" "$master.before-mailgate" "$conf/mailgate_transport" "$conf/mailgate_virtual"
  exit 0
fi

[ ${#domains[@]} -gt 0 ] || die "usage: wire_main_cf.sh [--tls-cert FILE --tls-key FILE] DOMAIN... | --unwire"
if [ -n "$tls_cert$tls_key" ]; then
  [ -n "$tls_cert" ] && [ -n "$tls_key" ] || die "--tls-cert and --tls-key go together"
  for f in "$tls_cert" "$tls_key"; do [ -r "$f" ] || die "cannot read $f"; done
  case "$tls_cert$tls_key" in *,*|*' '*) die "certificate and key paths must not contain spaces or commas" ;; esac
  openssl x509 -in "$tls_cert" -noout 2>/dev/null || die "$tls_cert is not a PEM certificate"
  cert_pub="$(openssl x509 -in "$tls_cert" -noout -pubkey 2>/dev/null)"
  key_pub="$(openssl pkey -in "$tls_key" -pubout 2>/dev/null)" || die "$tls_key is not a PEM private key (or has a passphrase)"
  [ "$cert_pub" = "$key_pub" ] || die "$tls_key is not the key of $tls_cert"
fi
for d in "${domains[@]}"; do
  for p in mydestination virtual_alias_domains virtual_mailbox_domains; do  # as `mailgate check`
    if postconf -xh "$p" | tr ', ' '\n\n' | grep -qix "$d"; then
      die "$d is in $p; Mailgate's domains must be relay domains only (remove it from $p)"
    fi
  done
done
case "$(postconf -h non_smtpd_milters)" in
  *mailgate/milter.sock*) die "non_smtpd_milters names Mailgate's socket; remove it (sendmail mail cannot be refused at RCPT)" ;;
esac

# First wiring: keep main.cf and master.cf as they were. Later ones: a file an admin changed
# since the last wiring is no longer its copy plus Mailgate's part: never restore that copy.
if [ ! -f "$state" ]; then
  cp -p "$main" "$main.before-mailgate"
  cp -p "$master" "$master.before-mailgate"
  printf '# Written by Mailgate'"'"'s postfix/wire_main_cf.sh: what it changed (for --unwire).\n' > "$state"
  printf 'restorable_main.cf yes\nrestorable_master.cf yes\n' >> "$state"
else
  for f in "$main" "$master"; do
    [ "$(digest "$f")" = "$(state_get "sha256_$(basename "$f")")" ] ||
      sed -i "s/^restorable_$(basename "$f") yes\$/restorable_$(basename "$f") no/" "$state"
  done
fi

# relay_domains: add ours; take out the ones this script added before and that are no longer ours.
relay="$(postconf -nh relay_domains)"  # -n: only what is set, not the default expression
old_added=($(state_get relay_added))
stale=()
for d in "${old_added[@]}"; do
  printf '%s\n' "${domains[@]}" | grep -qix "$d" || stale+=("$d")
done
[ ${#stale[@]} -eq 0 ] || relay="$(without "$relay" 'e.lower() in gone' "${stale[@]}")"
added=()
for d in "${old_added[@]}"; do printf '%s\n' "${stale[@]}" | grep -qix "$d" || added+=("$d"); done
for d in "${domains[@]}"; do
  if ! entries "$relay" | grep -qix "$d"; then
    relay="${relay:+$relay, }$d"
    added+=("$d")
  fi
done
sed -i '/^relay_added /d' "$state"
echo "relay_added ${added[*]}" >> "$state"
[ "$relay" = "$(postconf -nh relay_domains)" ] || set_list relay_domains "$relay"

# The safety net refuses (bounces) what reaches it instead of dropping it: a pipe(8) service that
# exits EX_NOUSER. Not error: (smtpd would refuse the whole domain at RCPT, before the milter).
SAFETY_NET="mailgate-refuse unix - n n - - pipe user=nobody argv=/bin/sh -c \
{echo 5.1.1 NOT-CONSUMED-BY-MAILGATE: no such address, the message did not pass the Mailgate milter; exit 67}"
state_has "services" || echo "services mailgate-refuse/unix" >> "$state"
postconf -Me "mailgate-refuse/unix=$SAFETY_NET"
{ echo "# Written by Mailgate's postfix/setup.sh; safety net, see postfix/main.cf.snippet."
  for d in "${domains[@]}"; do echo "$d mailgate-refuse:"; done; } > "$conf/mailgate_transport"
transport="$(postconf -nh transport_maps)"
entries "$transport" | grep -qxF "$transport_map" || postconf -e "transport_maps = $transport_map${transport:+, $transport}"

# postmaster@ and abuse@ Mailgate's domains reach a person, not the safety net (after any
# virtual alias maps already there, so an admin's own entries for them win).
"$here/mailgate_virtual.sh" "${domains[@]}" > "$conf/mailgate_virtual"
virtual="$(postconf -nh virtual_alias_maps)"
entries "$virtual" | grep -qxF "$virtual_map" || postconf -e "virtual_alias_maps = ${virtual:+$virtual, }$virtual_map"

# recipient_delimiter is left as the admin has it: Mailgate's domains are relay domains and
# the milter reads the whole RCPT argument, so nothing of Mailgate's depends on it.
set_scalar() {
  [ "$(postconf -nh "$1" 2>/dev/null)" = "$2" ] && return 0
  remember "$1"
  postconf -e "$1 = $2"
}
set_scalar milter_protocol 6
set_scalar milter_default_action tempfail
milters="$(postconf -nh smtpd_milters)"
case "$milters" in
  *"$MILTER_SOCKET_NAME"*) ;;
  *) postconf -e "smtpd_milters = ${milters:+$milters, }$MILTER_ENTRY" ;;
esac

# STARTTLS on port 25 with the certificate given (docs/going-live.md): opportunistic ("may"),
# as RFC 3207 wants for a public MX.
if [ -n "$tls_cert" ]; then
  set_scalar smtpd_tls_cert_file "$(readlink -f "$tls_cert")"
  set_scalar smtpd_tls_key_file "$(readlink -f "$tls_key")"
  set_scalar smtpd_tls_security_level may
fi

sed -i '/^sha256_/d' "$state"
echo "sha256_main.cf $(digest "$main")" >> "$state"
echo "sha256_master.cf $(digest "$master")" >> "$state"
