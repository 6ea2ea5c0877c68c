"""Errors shared across edgewatch's parts."""


class UserError(Exception):
    """Bad input from the user (a file, a config key, an argument).

    The command line prints it as one line and exits with status 2; the message must say what is wrong and
    what to do next.
    """
