"""Local fakes of the providers Chorus talks to, started by tests on random ports."""
