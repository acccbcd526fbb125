"""The commands that look after an index: status, verify, eval, and watching the corpus."""
