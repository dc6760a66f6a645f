"""One form class per resource (Flask-WTF: every POST carries a CSRF token).

Validation of *business* rules (a reserved address, a clash with the
reply-address format) stays in `mailgate.shared.directory`; these forms only
check shape, so the CLI and the console refuse the same things for the same
reasons.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

# A header value typed into a form: one line (a browser's text input strips line breaks; a
# hand-made POST need not, and a line break there would be a header of its own).
ONE_LINE = Regexp(r"[^\r\n]*\Z", message="Must be one line.")  # \Z: "$" also matches before a last "\n"


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField("Log in")


class PasswordForm(FlaskForm):
    """An admin's own new password: the current one first, so a session left open cannot change it."""

    current = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)])
    new = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField("New password again", validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField("Change password")

    def validate_confirm(self, field) -> None:
        from wtforms.validators import ValidationError

        if field.data != self.new.data:
            raise ValidationError("The two new passwords differ.")


class ActionForm(FlaskForm):
    """A bare POST (logout, reprocess, resend, enable/disable): only the CSRF token."""

    submit = SubmitField("Go")


class ConfirmForm(FlaskForm):
    """The second step of a destructive or invalidating action."""

    confirm = BooleanField("I understand", validators=[InputRequired()])
    submit = SubmitField("Confirm")


class VoidForm(ConfirmForm):
    reason = StringField("Reason", validators=[DataRequired(), Length(max=400)])


class TestMessageForm(FlaskForm):
    sender = StringField("From", validators=[DataRequired(), Length(max=320), ONE_LINE])
    to = StringField("To", validators=[DataRequired(), Length(max=998), ONE_LINE])  # one address or a list
    subject = StringField("Subject", validators=[Optional(), Length(max=998), ONE_LINE])
    body = TextAreaField("Body", validators=[Optional(), Length(max=200_000)])
    attachment = FileField("Attachment (optional)")
    # The helper: fill "To" with a valid reply address for a task and a user.
    create_address = SelectField("Create address", choices=[], validate_choice=False)
    task = StringField("Task (e.g. T1)", validators=[Optional(), Length(max=32)])
    user = SelectField("As user", choices=[], validate_choice=False)
    use_create = SubmitField("Use this create address")
    fill_reply = SubmitField("Fill reply address")
    send = SubmitField("Send through the pipeline")


class RawUploadForm(FlaskForm):
    eml = FileField("Raw message (.eml)", validators=[FileRequired()])
    envelope_from = StringField("Envelope sender (optional)", validators=[Optional(), Length(max=320), ONE_LINE])
    envelope_to = StringField("Envelope recipients (optional, comma-separated; empty routes by the headers)",
                              validators=[Optional(), Length(max=998), ONE_LINE])
    upload = SubmitField("Upload and receive")


class AddressAddForm(FlaskForm):
    address = StringField("New create address", validators=[DataRequired(), Length(max=320)])
    default_author = SelectField("Default author for unknown senders", choices=[], validate_choice=False)
    confirm_public = BooleanField("I understand a default author lets anyone open tasks at this address")
    sender_auth = SelectField("Sender authentication", choices=[], validate_choice=False)
    service_desk = BooleanField("Service desk: anyone may write, and is answered by mail")
    submit = SubmitField("Add address")


class SenderAuthForm(FlaskForm):
    sender_auth = SelectField("Sender authentication", choices=[], validate_choice=False)
    submit = SubmitField("Save")


class ServiceDeskForm(FlaskForm):
    """A create address's service-desk settings (docs/service-desk.md)."""

    enabled = BooleanField("Service desk: anyone may write; the sender is an external participant")
    acknowledge = BooleanField("Acknowledge each new task by mail")
    cc_participants = BooleanField("Addresses copied (Cc) on a new mail become participants too")
    template = TextAreaField("Acknowledgement text (empty: the built-in text)",
                             validators=[Optional(), Length(max=20_000)])
    submit = SubmitField("Save")


class CommentForm(FlaskForm):
    """A team member's comment typed in the console: the same path as a reply by mail."""

    author = SelectField("As user", choices=[], validate_choice=False, validators=[DataRequired()])
    text = TextAreaField("Comment (!close, !assign bob lines act, as in a mail reply)",
                         validators=[Optional(), Length(max=200_000)])
    internal = BooleanField("Internal: never mailed to external participants")
    submit = SubmitField("Add comment")


class DefaultAuthorForm(FlaskForm):
    default_author = SelectField("Default author", choices=[], validate_choice=False)
    confirm_public = BooleanField("I understand this lets anyone open tasks at this address")
    submit = SubmitField("Save")


class UserAddForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    email = StringField("Email", validators=[DataRequired(), Length(max=320)])
    name = StringField("Display name", validators=[Optional(), Length(max=200)])
    submit = SubmitField("Add user")


class UserEmailForm(FlaskForm):
    email = StringField("Another email address", validators=[DataRequired(), Length(max=320)])
    submit = SubmitField("Add email")


class ReceivedFilterForm(FlaskForm):
    """GET filters of the Received list (no CSRF: reading only)."""

    class Meta:
        csrf = False

    status = SelectField("Status", choices=[], validate_choice=False)
    reason = SelectField("Reason", choices=[], validate_choice=False)
    application = SelectField("Application", choices=[], validate_choice=False)
    source = SelectField("Source", choices=[], validate_choice=False)
    auth = SelectField("Sender auth", choices=[], validate_choice=False)
    since = StringField("From date", validators=[Optional()])
    until = StringField("Until date", validators=[Optional()])
    q = StringField("Search", validators=[Optional(), Length(max=200)])
    before = HiddenField()
