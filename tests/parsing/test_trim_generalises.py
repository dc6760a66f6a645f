"""The rules of issue 21, one test each, on messages written for these tests.

Each of these failed before the rule existed: the reply came out empty,
kept the history, or lost the forward.
"""

from __future__ import annotations

import pytest

from mailgate.shared.parsing import for_create, parse_message, parse_text
from mailgate.shared.parsing.trim import trim_reply
from mailgate.shared.message import load_message
from mailgate.shared.tracker import make_title

QUOTE = "> Can we move the printer on Friday?\n> Bob\n"


def text(body: str, **kw) -> str:
    return parse_text(body, **kw).text


def rules(body: str, **kw) -> list[str]:
    return [c.rule for c in trim_reply(body, **kw).cuts]


# --- the reply and the quote header on one line ------------------------------------------

@pytest.mark.parametrize("line, reply", [
    ("Sounds good. On Tue, 4 Sep 2012 at 13:35, Bob <bob@example.com> wrote:", "Sounds good."),
    ("Yes, Friday works.On 5 Mar 2024, at 10:12, Bob <bob@example.com> wrote:", "Yes, Friday works."),
    ("Parfait merci Le 5 mars 2024 à 10:12, Bob <bob@example.fr> a écrit :", "Parfait merci"),
    ("Passt, danke! Am Di., 5. März 2024 um 10:12 Uhr schrieb Bernd <bernd@example.de>:", "Passt, danke!"),
    ("Спасибо, всё заработало. вт, 5 мар. 2024 г. в 10:12, Борис <boris@example.ru>:", "Спасибо, всё заработало."),
    ("了解しました。明日確認します。2024年3月5日(火) 10:12 田中 <taro@example.jp>:", "了解しました。明日確認します。"),
    ("Tamam, teşekkürler. Bora <bora@example.com.tr>, 5 Mar 2024 Sal, 10:12 tarihinde şunu yazdı:",
     "Tamam, teşekkürler."),
])
def test_reply_before_the_header_on_its_line_is_kept(line: str, reply: str) -> None:
    assert text(f"{line}\n{QUOTE}") == reply


def test_a_header_wrapped_after_a_shared_line() -> None:
    body = ("Hi Bob,\n\nInstalled it. Printing looks fine now. On Mon, Mar 4, 2024 at 4:50 PM Bob <bob@example.com>\n"
            "wrote:\n\n" + QUOTE)
    assert text(body) == "Hi Bob,\n\nInstalled it. Printing looks fine now."


@pytest.mark.parametrize("header", [
    "On Tue, Bob Le Roux <bob@example.com> wrote:",
    "In data 11 ottobre 2017 21:11:31 \"John Doe\" <j.doe.i@example.com> ha scritto:",
    "вт, 5 мар. 2024 г. в 10:12, Борис <boris@example.ru>:",
    "2024年3月5日(火) 10:12 田中 <taro@example.jp>:",
])
def test_a_header_alone_on_its_line_is_not_split(header: str) -> None:
    body = f"Thanks.\n\n{header}\n{QUOTE}"
    assert text(body) == "Thanks."
    assert len(trim_reply(body).cuts) == 1


def test_a_separator_glued_to_the_reply() -> None:
    body = ("Will check tomorrow.-------- Original message --------\nFrom: Bob <bob@example.com>\n"
            "Date: 05/03/2024 10:12\nTo: alice@example.org\nSubject: Printer\n\nCan you check the tray?\n")
    assert text(body) == "Will check tomorrow."


def test_a_header_block_glued_to_the_reply() -> None:
    body = ("Approved.From: Bob <bob@example.com>\nSent: Tuesday, March 5, 2024 10:12 AM\nTo: Alice\n"
            "Subject: RE: drum\n\nPlease approve the drum unit.\n")
    assert text(body) == "Approved."


# --- separators and client lines --------------------------------------------------------

def test_name_wrote_between_dashes_is_a_separator() -> None:
    body = "Yes, the room is free.\n\n---- Bob Smith wrote ----\n\nIs the room free?\n"
    assert text(body) == "Yes, the room is free."
    assert rules(body) == ["separator:name_wrote"]


@pytest.mark.parametrize("line", [
    "Inviato dal mio dispositivo Galaxy", "Verstuurd vanaf mijn iPhone", "Trimis de pe dispozitivul Galaxy",
    "Στάλθηκε από το Galaxy μου", "Küldve iPhone-ról", "iPhone'umdan gönderildi",
    "Galaxy スマートフォンから送信しました。", "Galaxy 스마트폰에서 보냈습니다.",
    "Outlook für iOS<https://aka.ms/o0ukef> beziehen", "Obtener Outlook para iOS<https://aka.ms/o0ukef>",
])
def test_client_lines_in_more_languages(line: str) -> None:
    assert text(f"Ok.\n\n{line}\n\nold history without any marker\n") == "Ok."


def test_outlook_mentioned_in_a_sentence_is_not_a_client_line() -> None:
    assert text("Ok.\nI use Outlook on iOS\nand more text.\n") == "Ok.\nI use Outlook on iOS\nand more text."


@pytest.mark.parametrize("separator", [
    "-------- Originalmeddelande --------", "----- Mail original -----", "-------- Αρχικό μήνυμα --------",
    "Anfang der weitergeleiteten Nachricht:", "Inicio del mensaje reenviado:",
])
def test_separators_in_more_languages(separator: str) -> None:
    assert text(f"Done.\n\n{separator}\nunmarked history\n") == "Done."


@pytest.mark.parametrize("block", [
    "Gesendet: Dienstag, 05. März 2024 um 10:12 Uhr\nVon: \"Bernd\" <bernd@example.de>\nAn: a@example.org\n"
    "Betreff: Drucker\nKannst du Toner bestellen?",
    "Sent: Tuesday, March 5, 2024 10:12 AM\nTo: Alice\nFrom: Bob\nSubject: Printer\n\nPlease update the ticket.",
    "Date: Tue, 5 Mar 2024 10:12:44 +0100\nFrom: Bob <bob@example.com>\nTo: Alice\nSubject: Re: x\n\nCould you merge?",
])
def test_header_blocks_whose_from_is_not_first(block: str) -> None:
    assert text(f"Yes, go ahead.\n\n{block}\n") == "Yes, go ahead."


# --- wrapped links ----------------------------------------------------------------------

def test_a_link_tail_without_its_quote_marker_stays_history() -> None:
    body = ("Done.\n\nOn Tue, Mar 5, 2024 at 10:12 AM T <t@example.com> wrote:\n> Confirm at\n"
            "> https://t.example.com/confirm?token=4f9c0a5be1d2c4e8&action\n_nonce=a81bc2\n> Thanks.\n")
    assert text(body) == "Done."


def test_an_answer_below_a_quoted_link_is_an_answer() -> None:
    body = ("On 05/03/2024 10:12, Bob wrote:\n> Which driver? https://dl.example.com/drivers/laser/v4.2/setup-x64.exe\n"
            "Genau den, danach neu gestartet.\n> Did it come back?\nNo.\n")
    assert "Genau den, danach neu gestartet." in text(body)


# --- reply-above-this-line markers --------------------------------------------------------

@pytest.mark.parametrize("marker", [
    "##- Reply above this line -##", "##- Please type your reply above this line -##",
    "## Bitte oberhalb dieser Zeile antworten ##", "Please reply above this line",
    "##- このラインより上にご返信ください。 -##", "--- Reply above this line ---",
])
def test_the_marker_cuts_first(marker: str) -> None:
    body = f"Thanks, fixed.\n\n{marker}\n\nBob Smith (Support)\nMar 5, 2024, 10:12\n\nCould you restart it?\n"
    assert text(body) == "Thanks, fixed."
    assert rules(body)[0] == "marker:reply_above"


def test_a_rule_line_above_the_marker_goes_with_it() -> None:
    body = "Confirmed.\n\n—-—-—-—\nReply above this line.\n\nBob commented:\nPlease confirm.\n"
    assert text(body) == "Confirmed."


def test_an_unknown_attribution_right_above_the_marker_goes() -> None:
    body = ("Thanks.\n\nBob Smith schreef op 5-3-2024 om 10:12 (bob@example.com):\n"
            "> ##- Reply above this line -##\n> Bob commented on T12.\n")
    assert text(body) == "Thanks."
    assert rules(body)[:2] == ["marker:reply_above", "marker:attribution"]


def test_answers_below_a_quoted_marker_stay_and_the_marker_goes() -> None:
    body = "> ##- Reply above this line -##\n> Is the printer fixed?\nYes, since this morning.\n"
    assert text(body) == "> Is the printer fixed?\nYes, since this morning."


def test_prose_about_a_line_is_not_a_marker() -> None:
    body = "The cable runs above this line of desks.\nIt is fine.\n"
    assert text(body) == body.strip()


# --- forwards ------------------------------------------------------------------------------

FORWARD = ("---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\nDate: Tue, Mar 5, 2024 at 10:12 AM\n"
           "Subject: Printer jams\nTo: Alice <alice@example.org>\n\n\nThe printer jams on every second page.\n")


def test_a_create_address_keeps_the_forward_with_its_headers() -> None:
    result = trim_reply(f"Can someone look?\n\n-- \nAlice\n\n{FORWARD}", for_create=True)
    assert result.text == "Can someone look?\n\n" + FORWARD.strip()
    assert result.forwarded_subject == "Printer jams"


def test_a_reply_address_cuts_the_forward_below_new_text() -> None:
    assert text(f"Adding the vendor's answer.\n\n{FORWARD}") == "Adding the vendor's answer."


def test_only_a_client_line_above_a_forward_to_a_create_address() -> None:
    result = trim_reply("\n\nSent from my iPhone\n\nBegin forwarded message:\n\n> From: Bob <bob@example.com>\n"
                        "> Subject: Elevator\n> Date: March 5, 2024\n> To: Alice\n>\n> It makes a noise.\n",
                        for_create=True)
    assert result.text.startswith("Begin forwarded message:") and result.forwarded_subject == "Elevator"


def test_a_quoted_forward_with_nothing_above_keeps_its_text() -> None:
    body = ("Begin forwarded message:\n\n> From: Shop <orders@shop.example>\n> Subject: Order\n"
            "> Date: 5 March 2024 at 10:12:44 CET\n> To: Alice <alice@example.org>\n>\n> Your order has shipped.\n")
    assert text(body) == "> Your order has shipped."


def test_a_create_address_keeps_a_quote_no_header_opens() -> None:
    body = "New issue, see the quote below:\n\n> this is a quote\n"
    assert text(body) == "New issue, see the quote below:"
    assert text(body, for_create=True) == body.strip()


def test_for_create_reads_the_same_message_again_only_when_it_matters() -> None:
    msg = load_message(f"Subject: Fwd: Printer jams\n\nLook.\n\n{FORWARD}".encode())
    parsed = parse_message(msg)
    assert parsed.text == "Look."
    created = for_create(parsed)
    assert created.text.startswith("Look.\n\n---------- Forwarded message") and created.forwarded_subject == "Printer jams"
    plain = parse_message(load_message(b"Subject: x\n\nJust text.\n"))
    assert for_create(plain) is plain


@pytest.mark.parametrize("subject, forwarded, title", [
    ("Fwd: Printer jams", "Printer jams", "Printer jams"),
    ("WG: AW: Drucker", "AW: Drucker", "Drucker"),
    ("TR: Badge perdu", "Badge perdu", "Badge perdu"),
    ("RV: Impresora", None, "Impresora"),
    ("I: Stampante bloccata", None, "Stampante bloccata"),
    ("Fwd:", "Keyboard missing keys", "Keyboard missing keys"),
    ("Please look at this", "Printer jams", "Please look at this"),
    ("Re: [T12] Printer", None, "[T12] Printer"),
])
def test_a_task_title_from_a_forward(subject: str, forwarded: str | None, title: str) -> None:
    assert make_title(subject, "body", forwarded) == title


# --- never an empty reply -------------------------------------------------------------------

def test_a_reply_trimming_would_empty_keeps_its_words() -> None:
    body = "I met sales@vendor.example today, and here is what their engineer wrote:\n> The fuser is worn.\n"
    parsed = parse_text(body)
    assert parsed.text == "I met sales@vendor.example today, and here is what their engineer wrote:"
    assert parsed.fallback and parsed.fallback_rule == "quote_header:en_wrote"
    assert parsed.to_json()["fallback"] is True and parsed.quoted == "> The fuser is worn."


@pytest.mark.parametrize("body", [
    "On Mon, 2 Nov 2026 at 10:00, Alice <alice@example.org> wrote:\n> It burns.\n",
    "--\n> quote line 1\n> quote line 2\n",
    "\n\nSent from my iPhone\n",
    "Von meinem iPhone gesendet\n\n> Am 05.03.2024 um 10:12 schrieb Bernd <bernd@example.de>:\n> Wann?\n",
])
def test_mail_without_words_of_its_own_stays_empty(body: str) -> None:
    parsed = parse_text(body)
    assert parsed.text == "" and not parsed.fallback


@pytest.mark.parametrize("body", ["Sent with swaks.\n", "Sent from the office, all fine.\n"])
def test_a_sentence_that_looks_like_a_client_line_is_kept_when_it_is_all_there_is(body: str) -> None:
    assert parse_text(body).text == body.strip()
