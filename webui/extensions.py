"""Flask extensions, created unbound and attached in create_app (the Flask tutorial's pattern).

Flask-SQLAlchemy serves the plain DeclarativeBase models of `mailgate.shared`
through their metadata, so the milter and the console share one set of
models and the milter never imports Flask.
"""

from __future__ import annotations

from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from mailgate.shared.db import Base

db = SQLAlchemy(metadata=Base.metadata, session_options={"expire_on_commit": False})
login_manager = LoginManager()
csrf = CSRFProtect()
