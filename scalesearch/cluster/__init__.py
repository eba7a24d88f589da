"""Ray clusters from the outside: connection (auth, addresses), jobs (the client), transfer
(results through the log) and remote (the job side)."""
