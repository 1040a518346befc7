"""Steering: the user's messages to a running session, the directives parsed from them against
one vocabulary of the run, and whether a plan complies."""
