-- Protocol test: speaks the milter protocol straight to `mailgate milter`'s socket.
-- Environment: MILTER_SOCKET, GOOD_RCPT (a valid reply address), FORGED_RCPT.
local sock = os.getenv("MILTER_SOCKET")
local good = os.getenv("GOOD_RCPT")
local forged = os.getenv("FORGED_RCPT")

local conn = mt.connect("unix:" .. sock, 40, 0.25)
if conn == nil then error("cannot connect to " .. sock) end
-- miltertest cannot read the macro lists a milter may put in its negotiation reply (SMFIF_SETSYMLIST), so
-- offer what an MTA without that action offers: every step (0x1fffff) and every other action (0xff; this
-- miltertest takes the steps before the actions). The milter then takes the connect callback; with Postfix
-- (SETSYMLIST) it negotiates connect away and reads the client from macros at MAIL FROM instead
-- (test_postfix_e2e checks that path).
if mt.negotiate(conn, 6, 2097151, 255) ~= nil then error("negotiate failed") end
if mt.test_option(conn, SMFIP_NOCONNECT) then error("connect negotiated away without SETSYMLIST") end
-- Steps Mailgate has no use for are negotiated away: the MTA does not send them.
if not (mt.test_option(conn, SMFIP_NODATA) and mt.test_option(conn, SMFIP_NOEOH)) then
  error("DATA and end-of-headers steps not negotiated away")
end
if mt.conninfo(conn, "client.example.org", "192.0.2.9") ~= nil then error("conninfo failed") end
if mt.helo(conn, "client.example.org") ~= nil then error("helo failed") end
if mt.macro(conn, SMFIC_MAIL, "i", "MTQID1") ~= nil then error("macro failed") end
if mt.mailfrom(conn, "<bob@example.org>") ~= nil then error("mailfrom failed") end

-- A forged reply address is refused at RCPT with a reply code (550 5.1.1).
if mt.rcptto(conn, "<" .. forged .. ">") ~= nil then error("rcptto failed") end
if mt.getreply(conn) ~= SMFIR_REPLYCODE then error("forged recipient was not refused at RCPT") end

-- The valid one is accepted.
if mt.rcptto(conn, "<" .. good .. ">") ~= nil then error("rcptto failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("valid recipient was not accepted") end

mt.header(conn, "From", "Bob <bob@example.org>")
mt.header(conn, "To", good)
mt.header(conn, "Subject", "Re: via miltertest")
mt.header(conn, "Message-ID", "<miltertest-1@example.org>")
if mt.bodystring(conn, "Commented through miltertest.\r\n") ~= nil then error("body failed") end
if mt.eom(conn) ~= nil then error("eom failed") end

-- End of message: Mailgate's recipient deleted, message continues (never DISCARD).
if not mt.eom_check(conn, MT_RCPTDELETE, "<" .. good .. ">") then error("no delrcpt for the Mailgate recipient") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("end of message did not continue") end

mt.disconnect(conn)
mt.echo("miltertest: ok")
