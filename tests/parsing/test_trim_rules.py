"""One test per trimming rule, on messages written for these tests (not the corpus)."""

from __future__ import annotations

import pytest

from mailgate.shared.parsing import parse_text
from mailgate.shared.parsing.trim import trim_reply


def text(body: str) -> str:
    return parse_text(body).text


def rules(body: str) -> list[str]:
    return [c.rule for c in trim_reply(body).cuts]


# --- quote headers ---------------------------------------------------------

@pytest.mark.parametrize("header, rule", [
    ("On Mon, 3 Feb 2025 at 10:12, Bob Smith <bob@example.com> wrote:", "quote_header:en_on_wrote"),
    ("On 03/02/2025 10:12, Bob wrote:", "quote_header:en_on_wrote"),
    ("Bob Smith <bob@example.com> wrote:", "quote_header:en_wrote"),
    ("Le lun. 3 févr. 2025 à 10:12, Bob <bob@example.com> a écrit :", "quote_header:fr_a_ecrit"),
    ("El lun, 3 feb 2025 a las 10:12, Bob (<bob@example.com>) escribió:", "quote_header:es_escribio"),
    ("El 3/2/2025 a les 10:12, Bob <bob@example.com> ha escrit:", "quote_header:ca_ha_escrit"),
    ("Em seg., 3 de fev. de 2025 às 10:12, Bob <bob@example.com> escreveu:", "quote_header:pt_escreveu"),
    ("Il giorno lun 3 feb 2025 alle ore 10:12 Bob <bob@example.com> ha scritto:", "quote_header:it_ha_scritto"),
    ("Am Mo., 3. Feb. 2025 um 10:12 Uhr schrieb Bob <bob@example.com>:", "quote_header:de_schrieb"),
    ("Op ma 3 feb. 2025 om 10:12 schreef Bob <bob@example.com>:", "quote_header:nl_schreef"),
    ("W dniu 3.02.2025 o 10:12, Bob <bob@example.com> pisze:", "quote_header:pl_napisal"),
    ("Den man. 3. feb. 2025 kl. 10.12 skrev Bob <bob@example.com>:", "quote_header:scandinavian_skrev"),
    ("ma 3. helmik. 2025 klo 10.12 Bob (bob@example.com) kirjoitti:", "quote_header:fi_kirjoitti"),
    ("пн, 3 февр. 2025 г. в 10:12, Bob <bob@example.com>:", "quote_header:date_address"),
    ("3 февр. 2025 г., в 10:12, Bob <bob@example.com> написал(а):", "quote_header:ru_napisal"),
    ("在 2025年2月3日，上午10:12，Bob <bob@example.com> 写道：", "quote_header:zh_xiedao"),
    ("2025. 2. 3. 오전 10:12, Bob <bob@example.com> 작성:", "quote_header:ko_jakseong"),
    ("2025/02/03 10:12、Bob <bob@example.com> のメッセージ:", "quote_header:ja_message"),
    ("2025-02-03 10:12 GMT+01:00 Bob <bob@example.com>:", "quote_header:date_address"),
    ("---- On Mon, 03 Feb 2025 10:12:00 +0100 bob@example.com wrote ----", "quote_header:en_on_wrote"),
    ("Στις 3/2/2025 10:12 π.μ., ο Bob <bob@example.com> έγραψε:", "quote_header:other_wrote"),
    ("Pada tanggal 3 Feb 2025 10.12, Bob <bob@example.com> menulis:", "quote_header:other_wrote"),
    ("În lun., 3 feb. 2025 la 10:12, Bob <bob@example.com> a scris:", "quote_header:other_wrote"),
    ("Dňa 3. 2. 2025 o 10:12 Bob <bob@example.com> napísal:", "quote_header:other_wrote"),
])
def test_quote_header_cuts_history(header: str, rule: str) -> None:
    body = f"Thanks, that works.\n\n{header}\n> Does it work?\n> Bob\n"
    assert text(body) == "Thanks, that works."
    assert rules(body) == [rule]


def test_header_wrapped_over_three_lines() -> None:
    body = ("Sounds good.\n\nLe 4 janv. 2016 19:03, \"Neil Lalonde\"\n<neil@example.org>\na écrit :\n\n"
            "> old text\n")
    assert text(body) == "Sounds good."


def test_header_wrapped_after_angle_bracket() -> None:
    body = "Yes.\n\nOn Mon, Aug 19, 2013 at 2:36 AM, Some One via Meta <\ninfo@example.org> wrote:\n\n> old\n"
    assert text(body) == "Yes."


def test_prose_that_mentions_writing_is_kept() -> None:
    body = "Something wrote:\n\nthe answer is 42\n\nOn this day I wrote a letter.\nHe wrote: hello"
    assert text(body) == body


def test_prose_line_above_a_header_is_kept() -> None:
    body = "Will test in 2 weeks. I will let you know then...\nOp 16 aug. 2014 05:13 schreef \"bob\" <b@example.org> het\nvolgende geschreven:\n\n> old\n"
    assert text(body) == "Will test in 2 weeks. I will let you know then..."


# --- header blocks and separators ------------------------------------------

def test_outlook_header_block() -> None:
    body = ("New answer\n\nFrom: Bob <bob@example.com>\nSent: Monday, 3 February 2025 10:12\n"
            "To: Alice <alice@example.com>\nSubject: Re: report\n\nOld text, not quoted.\n")
    assert text(body) == "New answer"
    assert rules(body) == ["header_block:from_sent_to"]


@pytest.mark.parametrize("block", [
    "Von: Bob <bob@example.com>\nGesendet: Montag, 3. Februar 2025 10:12\nAn: Alice\nBetreff: AW: Bericht",
    "De : Bob <bob@example.com>\nEnvoyé : lundi 3 février 2025 10:12\nÀ : Alice\nObjet : RE: rapport",
    "*From:* Bob\n*Sent:* 2025-02-03\n*To:* alice@example.com\n*Subject:* report",
    "发件人: Bob <bob@example.com>\n发送时间: 2025年2月3日 10:12\n收件人: Alice\n主题: 报告",
    "From: Human Resources\n<a-very-long-address@example.com>\nSent: Monday, 3 February 2025\nTo: Alice",
    "De la: Bob <bob@example.com>\nTrimis: luni, 3 februarie 2025 10:12\nCătre: Alice\nSubiect: raport",
    "Από: Bob <bob@example.com>\nΣτάλθηκε: Δευτέρα, 3 Φεβρουαρίου 2025\nΠρος: Alice\nΘέμα: αναφορά",
])
def test_header_blocks_in_other_languages(block: str) -> None:
    assert text(f"Reply\n\n{block}\n\nOld text\n") == "Reply"


def test_two_header_lines_in_prose_are_not_a_block() -> None:
    body = "Notes:\nFrom: the office\nTo: the station\n\nThen we walk."
    assert text(body) == body


@pytest.mark.parametrize("sep", [
    "-----Original Message-----", "----- Original Message -----", "-------- Message d'origine --------",
    "-----Ursprüngliche Nachricht-----", "---------- Forwarded message ---------", "*-------- Original Message --------*",
    "-------- Oprindelig besked --------",
])
def test_separators(sep: str) -> None:
    assert text(f"Reply here\n\n{sep}\nOld text\n") == "Reply here"


def test_outlook_underscore_line_before_block() -> None:
    body = "Reply\n________________________________\nFrom: Bob\nSent: Monday\nTo: Alice\nSubject: x\n\nold"
    assert text(body) == "Reply"


def test_forward_with_nothing_above_keeps_the_forwarded_text() -> None:
    body = "---------- Forwarded message ----------\nFrom: Bob <b@example.com>\nDate: Mon, 3 Feb 2025\nSubject: x\nTo: a@example.com\n\n\nPlease look at this."
    assert text(body) == "Please look at this."


# --- quotes --------------------------------------------------------------

def test_trailing_quote_is_cut() -> None:
    assert text("Agreed.\n\n> Shall we?\n> Bob") == "Agreed."
    assert rules("Agreed.\n\n> Shall we?\n> Bob") == ["quote:trailing"]


def test_quote_only_message_is_kept() -> None:
    assert text("> Just this quote.") == "> Just this quote."


def test_quote_under_header_and_no_text_is_empty() -> None:
    assert text("On Mon, 3 Feb 2025, Bob <b@example.com> wrote:\n> hi\n") == ""


def test_bottom_posting() -> None:
    body = "On Mon, 3 Feb 2025 at 10:12, Bob <b@example.com> wrote:\n> Shall we?\n\nYes, let's."
    assert text(body) == "Yes, let's."


def test_inline_answers_keep_the_questions_they_answer() -> None:
    body = ("Hi,\nOn Mon, 3 Feb 2025 at 10:12, Bob <b@example.com> wrote:\n> Question one?\n\nAnswer one.\n\n"
            "> Question two?\n\nAnswer two.\n\nAnd a third line\nand a fourth\nand more\nand more\nand more\n")
    got = text(body)
    assert "On Mon" not in got
    assert "> Question one?" in got and "Answer two." in got


def test_rewrapped_quote_line_is_quote() -> None:
    body = ("Fine.\n\nOn Mon, 3 Feb 2025, Bob <b@example.com> wrote:\n> This is a long quoted line that the client wrapped in the middle of a\n"
            "sentence without a marker.\n> More quote.\n")
    assert text(body) == "Fine."


def test_supercite_quote_prefix() -> None:
    assert text("Yes.\n\nBob> will you?\nBob> ok") == "Yes."


def test_quote_marker_without_space() -> None:
    assert text("Yes.\n\nAt 6/16/2016 08:32 PM, you wrote:\n>old\n>older") == "Yes."


# --- signatures ----------------------------------------------------------

def test_standard_signature_separator() -> None:
    result = trim_reply("Done.\n\n-- \nBob Smith\nACME")
    assert result.text == "Done."
    assert result.signature == "-- \nBob Smith\nACME".replace("-- ", "--")
    assert [c.rule for c in result.cuts] == ["signature:dash_dash"]


@pytest.mark.parametrize("sig", [
    "Sent from my iPhone", "Sent from my Samsung Galaxy S21", "Sent from my cell, please excuse typos.",
    "Envoyé de mon iPhone", "Von meinem iPhone gesendet", "Sendt fra min iPad", "Enviado desde mi iPhone",
    "Get Outlook for iOS<https://aka.ms/o0ukef>", "Sent from Mail for Windows 10", "從我的 iPhone 傳送",
    "Sent from Yahoo Mail on Android", "Verzonden met BlackBerry Work",
])
def test_client_signatures(sig: str) -> None:
    result = trim_reply(f"On my way.\n\n{sig}\n")
    assert result.text == "On my way."
    assert result.cuts[0].rule == "signature:client"


def test_sent_from_prose_is_not_a_signature() -> None:
    body = "Here it is\n\nSent from my desk, is much easier than my mobile phone."
    assert text(body) == body


def test_signoff_name_is_kept() -> None:
    assert text("Thanks!\n\n-Bob") == "Thanks!\n\n-Bob"
    assert text("Thanks!\n\nBest regards,\nBob") == "Thanks!\n\nBest regards,\nBob"


def test_em_dash_line_is_not_a_delimiter() -> None:
    assert text("🎉\n\n—\nJohn Doe") == "🎉\n\n—\nJohn Doe"


def test_first_line_rule_is_not_a_delimiter() -> None:
    assert text("----\nTable of results") == "----\nTable of results"


def test_code_fence_content_is_never_cut() -> None:
    body = "Patch:\n\n```\n--\n> not a quote\nOn Mon, 3 Feb 2025, Bob <b@example.com> wrote:\n```\n\nok?"
    assert text(body) == body


def test_mailing_list_footer_after_underscores() -> None:
    body = "Question?\n\n_______________________________________________\nlist mailing list\nlist@example.org"
    assert text(body) == "Question?"


def test_trailing_whitespace_and_crlf_are_normalised() -> None:
    assert text("line one   \r\nline two\t\r\n") == "line one\nline two"


def test_invisible_marker_lines_disappear() -> None:
    assert text("Hello\n\n\u1427\n") == "Hello"


def test_every_cut_names_its_rule_and_text() -> None:
    result = trim_reply("Yes\n\nOn Mon, 3 Feb 2025, Bob <b@example.com> wrote:\n> q\n\n-- \nsig")
    assert [(c.rule, c.text.splitlines()[0]) for c in result.cuts] == [
        ("signature:dash_dash", "--"),
        ("quote_header:en_on_wrote", "On Mon, 3 Feb 2025, Bob <b@example.com> wrote:"),
    ]
    assert result.quoted.startswith("On Mon")
    assert result.signature.startswith("--")


def test_markdown_rule_with_long_text_after_is_a_section_break() -> None:
    body = "Steps:\n1. open the page\n---\n" + "\n".join(f"Observation {i}." for i in range(15))
    assert text(body) == body


def test_rule_line_with_short_footer_is_cut() -> None:
    body = "Question?\n\n-----\nACME Corp, 1 Road, Town\nConfidential."
    assert text(body) == "Question?"


def test_short_lowercase_inline_answers_stay() -> None:
    body = "Answers below.\n\n> Is it fixed?\nyes\n> And the login page?\nno, still broken\n> Ok"
    got = text(body)
    assert "yes" in got and "no, still broken" in got


@pytest.mark.parametrize("header,rule", [
    ("On Mon, Alice wrote:", "quote_header:en_on_wrote_undated"),
    ("Le lundi, Alice a écrit :", "quote_header:fr_a_ecrit_undated"),
])
def test_undated_header_right_above_the_quote_goes_with_it(header, rule):
    from mailgate.shared.parsing.trim import trim_reply

    r = trim_reply(f"Sounds good.\n\n{header}\n> old text\n> more\n")
    assert r.text == "Sounds good."
    assert rule in [c.rule for c in r.cuts]


@pytest.mark.parametrize("body,kept", [
    # prose ending in a colon is not a header shape: it stays, the quote goes
    ("The manual says the following:\n> quoted line\n", "The manual says the following:"),
    # an inline answer follows the quote: the header stays where it is
    ("On it.\n\nOn Monday the team wrote:\n> x\n\nmore answer here\n",
     "On it.\n\nOn Monday the team wrote:\n> x\n\nmore answer here"),
])
def test_undated_header_shape_alone_is_not_enough(body, kept):
    from mailgate.shared.parsing.trim import trim_reply

    assert trim_reply(body).text == kept
