"""cievents: the library every ci-event-functions function stands on."""

from cievents import coldstart

__version__ = "0.1.0"

coldstart.hold()  # a served instance collects no garbage until its first answer
