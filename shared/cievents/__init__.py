"""cievents: the library every ci-event-functions function stands on."""

__version__ = "0.1.0"
