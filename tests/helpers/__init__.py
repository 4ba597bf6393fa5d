"""Helpers shared by the tests (not tests themselves): ``fakemodel`` (a tiny stand-in for the model, to test
the runner on its own) and ``cli`` (running the documented command line as a user would)."""
